/**
 * @module How much of a stage fits in memory: whole, or in tiles, and how much L-BFGS history.
 *
 * A stage holds image-sized vectors (the image, its gradient, the content and
 * style images at the stage's size, the optimiser's state: L-BFGS keeps 2·m of
 * them) and the network's forward and backward pass. At 4096×4096 one vector is
 * 200 MB. Within `options.memoryBudget` the pass runs on the whole image when it
 * fits; otherwise on tiles as large as the rest of the budget allows
 * (`tiled_objective.ts`), with the image-sized vectors in host memory and the
 * L-BFGS history shortened first where tiles would otherwise be mostly halo.
 */
import { ZodError } from "zod";
import type { Reach } from "./tiles.ts";

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
 * Image-sized vectors a stage holds at its peak besides the L-BFGS history.
 *
 * Whole, on the device: the content (RGB and preprocessed) and the optimiser's
 * tensors (L-BFGS: x, ∇f, d, the trial point and its gradient, and up to four
 * temporaries while it reads a trial's products; Adam: x, m, v, ∇f and its update).
 *
 * Tiled: L-BFGS keeps x, ∇f, d, the trial point and its gradient in host memory,
 * updated in place (`lbfgs_host.ts`), beside the preprocessed content there and the
 * RGB content on the device. Adam stays on tensors, and its objective reads x back
 * and hands its gradient over: two more.
 */
const WHOLE_VECTORS = { lbfgs: 11, adam: 8 } as const;
const TILED_VECTORS = { lbfgs: 7, adam: 10 } as const;

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
  /** Bytes the plan expects to hold at most. */
  bytes: number;
}

/**
 * Plans a `height`x`width` stage for a network of `reach` within `budgetMiB`.
 * Throws a `ZodError` on `options.memoryBudget` (an HTTP 422 naming the field) when
 * not even the smallest tile and a one-pair history fit.
 */
export function planStageMemory(
  [height, width]: readonly [number, number],
  reach: Reach,
  budgetMiB: number,
  optimizer: "lbfgs" | "adam",
  historySize: number,
): StageMemory {
  const budget = budgetMiB * MiB;
  const vector = height * width * 3 * 4;
  const pass = (h: number, w: number) => reach.bytesPerPixel * h * w;
  const pairs = (m: number) => (optimizer === "lbfgs" ? 2 * m : 0);
  const whole = (WHOLE_VECTORS[optimizer] + pairs(historySize)) * vector;
  if (whole + pass(height, width) <= budget) {
    return { tile: null, historySize, bytes: whole + pass(height, width) };
  }
  const held = (m: number) => (TILED_VECTORS[optimizer] + pairs(m)) * vector;
  // The smallest tile worth cutting: narrower than its halo, the crops would mostly be halo.
  const smallest = Math.max(reach.halo, 4 * reach.stride);
  const preferred = 2 * reach.halo / (Math.sqrt(MAX_HALO_OVERHEAD) - 1);
  const cropOf = (tile: number) => tile + 2 * reach.halo;
  const tileFor = (m: number) => {
    const left = budget - held(m);
    if (left < pass(cropOf(smallest), cropOf(smallest))) return null;
    const side = Math.floor(Math.sqrt(left / reach.bytesPerPixel)) - 2 * reach.halo;
    return Math.max(smallest, Math.floor(side / reach.stride) * reach.stride);
  };
  const plan = (tile: number, m: number): StageMemory => ({
    tile,
    historySize: m,
    bytes: held(m) + pass(cropOf(tile), cropOf(tile)),
  });
  for (let m = historySize; m >= 1; m--) {
    const tile = tileFor(m);
    if (tile !== null && tile >= preferred) return plan(tile, m);
  }
  const tile = tileFor(1);
  if (tile !== null) return plan(tile, 1);
  const need = Math.ceil((held(1) + pass(cropOf(smallest), cropOf(smallest))) / MiB);
  throw new ZodError([{
    code: "custom",
    path: ["options", "memoryBudget"],
    message: `${budgetMiB} MiB cannot hold a ${width}x${height} stage (it needs at least ` +
      `${need} MiB); raise memoryBudget or lower maxOutput`,
    input: budgetMiB,
  }]);
}
