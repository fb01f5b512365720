/**
 * @module How a run's stages fit in memory: whole or in tiles, and how much L-BFGS history.
 *
 * A stage holds image-sized vectors (the image, its gradient, the content, the
 * optimiser's state: L-BFGS keeps 2·m of them) and the network's forward and
 * backward pass. At 4096×4096 one vector is 192 MiB. A stage too large for
 * `options.memoryBudget` runs on tiles (`tiled_objective.ts`) with its vectors in
 * host memory (`lbfgs_host.ts`), the device holding one tile's pass.
 *
 * The wasm heap never gives memory back, so the budget is split once for the
 * whole run: the device's share is what the largest stage leaves after its host
 * vectors, and every stage, whole or tiled, stays within it. A small stage that
 * runs whole would otherwise leave the heap as large as its pass, under the
 * next stage's host vectors. The largest stage keeps tiles at least 386 px wide
 * (for SqueezeNet) by shortening its L-BFGS history first.
 */
import { ZodError } from "zod";
import type { Reach } from "../executors/tiles.ts";

const MiB = 2 ** 20;

/** The default budget: a quarter of the machine's memory, at least 512 MiB, at most 3 GiB. */
export function defaultMemoryBudget(): number {
  let total = 8 * 1024 * MiB;
  try {
    total = Deno.systemMemoryInfo().total;
  } catch {
    // Not permitted: assume a common laptop.
  }
  return Math.round(Math.min(3072, Math.max(512, total / 4 / MiB)));
}

/**
 * Image-sized vectors of the stage's size besides the L-BFGS history.
 *
 * Whole, on the device: the content (RGB and preprocessed) and the optimiser's
 * tensors (L-BFGS: x, ∇f, d, the trial point and its gradient, and up to four
 * temporaries while it reads a trial's products; Adam: x, m, v, ∇f and its update).
 *
 * Tiled, in host memory: the content (RGB), and L-BFGS's x, ∇f, d, the trial point
 * and its gradient (updated in place); Adam stays on the device and its objective
 * reads x back and hands the gradient over.
 */
const WHOLE_DEVICE = { lbfgs: 11, adam: 8 } as const;
const TILED_HOST = { lbfgs: 6, adam: 3 } as const;
const TILED_DEVICE = { lbfgs: 0, adam: 5 } as const;

/**
 * Most pixels a crop may have per pixel its tile owns: a tile at least 2·halo / (√2 - 1)
 * wide (386 px for SqueezeNet's 80 px halo). The planner shortens the L-BFGS history
 * before it cuts tiles smaller than that, where the halo would double every pass's work.
 */
const MAX_HALO_OVERHEAD = 2;

/** How one stage runs within the budget. */
export interface StageMemory {
  /** Tile side in pixels, or null when the whole image's pass fits. */
  tile: number | null;
  /** L-BFGS history to keep (the option's, or fewer when the budget needs it). */
  historySize: number;
  /** Bytes the stage expects to hold at most on the device (the wasm heap) and in host memory. */
  deviceBytes: number;
  hostBytes: number;
}

type Size = readonly [number, number];

/**
 * Plans every stage of a run (`stages`, their `[h, w]`) of a network of `reach` within
 * `budgetMiB`, for a content of `contentSize` (one content-sized tensor on the device: the
 * content made at the last stage's start, or a preview's).
 * Throws a `ZodError` on `options.memoryBudget` (an HTTP 422 naming the field) when not
 * even the smallest tile and a one-pair history fit the largest stage.
 */
export function planMemory(
  stages: readonly Size[],
  contentSize: Size,
  reach: Reach,
  budgetMiB: number,
  optimizer: "lbfgs" | "adam",
  historySize: number,
): StageMemory[] {
  const budget = budgetMiB * MiB;
  const vector = ([h, w]: Size) => h * w * 3 * 4;
  const content = vector(contentSize);
  const pass = (h: number, w: number) => reach.bytesPerPixel * h * w;
  const pairs = (m: number) => (optimizer === "lbfgs" ? 2 * m : 0);
  const cropOf = (tile: number) => tile + 2 * reach.halo;
  const tiledHost = (size: Size, m: number) => (TILED_HOST[optimizer] + pairs(m)) * vector(size);
  // The smallest tile worth cutting: narrower than its halo, the crops would mostly be halo.
  const smallest = Math.max(reach.halo, 4 * reach.stride);
  const preferred = 2 * reach.halo / (Math.sqrt(MAX_HALO_OVERHEAD) - 1);

  const whole = (size: Size, m: number): StageMemory => ({
    tile: null,
    historySize: m,
    deviceBytes: content + (WHOLE_DEVICE[optimizer] + pairs(m)) * vector(size) +
      pass(size[0], size[1]),
    hostBytes: 0,
  });
  /** The largest tile whose pass fits `device` bytes, with `m` pairs; null if not even the smallest. */
  const tiled = (size: Size, m: number, device: number): StageMemory | null => {
    const left = device - content - TILED_DEVICE[optimizer] * vector(size);
    if (left < pass(cropOf(smallest), cropOf(smallest))) return null;
    const side = Math.floor(Math.sqrt(left / reach.bytesPerPixel)) - 2 * reach.halo;
    const tile = Math.max(smallest, Math.floor(side / reach.stride) * reach.stride);
    return {
      tile,
      historySize: m,
      deviceBytes: device - left + pass(cropOf(tile), cropOf(tile)),
      hostBytes: tiledHost(size, m),
    };
  };

  const largest = stages.reduce((a, b) => (a[0] * a[1] >= b[0] * b[1] ? a : b));
  if (whole(largest, historySize).deviceBytes <= budget) {
    return stages.map((size) => whole(size, historySize));
  }
  // The largest stage splits the budget: its host vectors, and the device's share for the rest.
  let last: StageMemory | null = null;
  for (let m = historySize; m >= 1 && !last; m--) {
    const plan = tiled(largest, m, budget - tiledHost(largest, m));
    if (plan && plan.tile! >= preferred) last = plan;
  }
  last ??= tiled(largest, 1, budget - tiledHost(largest, 1));
  if (!last) {
    const need = Math.ceil(
      (tiledHost(largest, 1) + content +
        TILED_DEVICE[optimizer] * vector(largest) + pass(cropOf(smallest), cropOf(smallest))) /
        MiB,
    );
    throw new ZodError([{
      code: "custom",
      path: ["options", "memoryBudget"],
      message: `${budgetMiB} MiB cannot hold a ${largest[1]}x${largest[0]} stage (it needs at ` +
        `least ${need} MiB); raise memoryBudget or lower maxDetailSize`,
      input: budgetMiB,
    }]);
  }
  const device = budget - last.hostBytes;
  return stages.map((size) => {
    if (size === largest) return last;
    // A smaller stage: whole if its pass fits the device's share, else tiled within it; its
    // history as long as the option, or as fits in the host memory the largest stage uses.
    for (let m = historySize; m >= 1; m--) {
      const plan = whole(size, m);
      if (plan.deviceBytes <= device) return plan;
    }
    let m = historySize;
    while (m > 1 && tiledHost(size, m) > last.hostBytes) m--;
    return tiled(size, m, device) ?? last;
  });
}
