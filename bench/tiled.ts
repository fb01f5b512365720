/**
 * @module `deno task bench --tiled`: what full-resolution stages cost, tiled and whole.
 *
 * 1. At `--size` (default 1024) px square: the tiled gradient against the whole
 *    image's (relative error), and the time of one tiled evaluation against one
 *    whole evaluation, interleaved in one process (the ratio holds on a noisy machine).
 * 2. A stylize() run of a `--final` (default 4096) px square content with SqueezeNet's
 *    defaults, ending in a detail stage at that size, in a child process: its peak
 *    resident memory (the kernel's high-water mark, VmHWM), the seconds per
 *    iteration of the final stage, its tiles and the L-BFGS history it kept.
 *
 * 3. With `--seams WxH`, only a still-grid run at that size from the content: the seam
 *    ratio of the change it paints (gradient energy across tile edges over the rest),
 *    beside the same ratio for the edges moved by each multiple of the stride (controls).
 *
 * ```sh
 * deno task bench --tiled                           # 1024 px comparison, 4096 px run
 * deno task bench --tiled --seams 3000x2000 --iterations 4
 * deno task bench --tiled --final 2048 --iterations 2
 * deno task bench --tiled --no-final                # the comparison only
 * ```
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { currentBackend, initBackend } from "../src/backend.ts";
import { mirrorDir } from "../src/config.ts";
import { stylize } from "../src/engine/stylize.ts";
import { stagePlan } from "../src/engine/stages.ts";
import { resolveRun } from "../src/engine/run.ts";
import {
  asTiledTargets,
  disposeTargets,
  stageTargets,
  tiledStageTargets,
} from "../src/engine/targets.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { reachOf, tileGrid } from "../src/executors/tiles.ts";
import { onTensors, tiledObjective } from "../src/executors/tiled.ts";
import { executorFor } from "../src/executors/mod.ts";
import { lossLayers, wholeImageTerms } from "../src/loss/terms.ts";
import { hostLbfgs } from "../src/engine/lbfgs_host.ts";
import { seamRatio } from "../src/engine/seams.ts";
import { toHost } from "../src/executors/host_image.ts";
import { defaultMemoryBudget, planMemory } from "../src/engine/memory.ts";
import { layersOf } from "../src/net/graph.ts";
import { getNetwork } from "../src/net/load.ts";
import { decodeImage } from "../src/image/codec.ts";
import { imageToTensor, resize } from "../src/image/tensor.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { cpuModel } from "./cpu.ts";

const MiB = 2 ** 20;

async function photo(name: string): Promise<RgbaImage> {
  const dir = mirrorDir() ?? "../shared";
  return decodeImage(await Deno.readFile(`${dir}/images/${name}`));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** The kernel's record of this process's peak resident memory, in bytes. */
async function peakRss(): Promise<number> {
  const status = await Deno.readTextFile("/proc/self/status").catch(() => "");
  const kb = status.match(/^VmHWM:\s+(\d+) kB/m)?.[1];
  return kb ? Number(kb) * 1024 : Deno.memoryUsage().rss;
}

/** SqueezeNet with its default preset: the network, its loss, its layers' reach and its executor. */
async function squeezenetDefaults() {
  const network = await getNetwork("squeezenet", { padding: "reflect", pooling: "blur" });
  const { loss: setup } = resolveRun(stylizeOptionsSchema.parse({}), network);
  const reach = reachOf(layersOf(network)!, lossLayers(setup));
  return { network, setup, reach, executor: executorFor(currentBackend(), network) };
}

/** Tiled against whole at `size` px: gradient error and the time of one evaluation each. */
async function compare(size: number, repeat: number) {
  const { network, setup, reach, executor } = await squeezenetDefaults();
  // The tile the planner picks when the whole pass does not fit: here, half the side.
  const tile = Math.floor(size / 2 / reach.stride) * reach.stride;
  const rgb = (image: RgbaImage) => {
    const t = imageToTensor(image);
    const out = resize(t, size, size);
    t.dispose();
    return out;
  };
  const content = rgb(await photo("golden-gate.jpg"));
  const style = rgb(await photo("starry-night.jpg"));
  const pre = network.preprocess(content);
  const targets = await stageTargets(
    executor,
    network,
    content,
    [{ images: [style], blend: [1] }],
    setup,
  );
  const terms = wholeImageTerms(setup, targets, [size, size]);
  const whole = (x: tf.Tensor4D) => Promise.resolve(executor.evaluate(x, terms));
  const host = await asTiledTargets(targets, content);
  const tiled = onTensors(tiledObjective(executor, network, setup, host, { tile, reach }));
  const x: tf.Tensor4D = tf.tidy(() =>
    tf.add(pre, tf.randomNormal(pre.shape, 0, 10, "float32", 1))
  );
  const a = await whole(x);
  const b = await tiled(x);
  const error = tf.tidy(() =>
    tf.div(tf.norm(tf.sub(a.grad, b.grad)), tf.norm(a.grad)).dataSync()[0]
  );
  tf.dispose([a.values, a.grad, b.values, b.grad]);
  const times = { whole: [] as number[], tiled: [] as number[] };
  for (let i = 0; i < repeat; i++) {
    for (const [name, objective] of [["whole", whole], ["tiled", tiled]] as const) {
      const started = performance.now();
      const e = await objective(x);
      await e.values.data();
      times[name].push(performance.now() - started);
      tf.dispose([e.values, e.grad]);
    }
  }
  const tiles = Math.ceil(size / tile) ** 2;
  tf.dispose([x, pre, content, style]);
  disposeTargets(targets);
  return {
    size,
    tile,
    tiles,
    halo: reach.halo,
    gradientRelativeError: error,
    wholeMs: median(times.whole),
    tiledMs: median(times.tiled),
    ratio: median(times.tiled) / median(times.whole),
  };
}

/** The child: one stylize() run ending at `final` px; prints one JSON line. */
async function finalStage(final: number, iterations: number, budget: number) {
  // Made in host memory (nearest neighbour), so the device's heap is stylize()'s alone.
  const square = ({ width, height, data }: RgbaImage): RgbaImage => {
    const side = Math.min(width, height);
    const rgba = new Uint8Array(final * final * 4);
    for (let y = 0; y < final; y++) {
      for (let x = 0; x < final; x++) {
        const from = (Math.floor((y * side) / final) * width + Math.floor((x * side) / final)) * 4;
        rgba.set(data.subarray(from, from + 4), (y * final + x) * 4);
      }
    }
    return { width: final, height: final, data: rgba };
  };
  const content = square(await photo("city-skyline.jpg"));
  const style = await photo("starry-night.jpg");
  const stamps: { iteration: number; ms: number; size: number }[] = [];
  let tiles = 0;
  const started = performance.now();
  const { reach } = await squeezenetDefaults();
  const options = {
    maxSize: 512,
    scales: [512],
    iterations: 1,
    detailIterations: iterations,
    previewEvery: 1000,
    memoryBudget: budget,
    seed: 1,
  };
  // The plan stylize() makes: every stage's size counts (the heap never shrinks).
  const sizes = stagePlan(stylizeOptionsSchema.parse(options), final).map((stage) =>
    [stage.size, stage.size] as [number, number]
  );
  const plan = planMemory(sizes, [final, final], reach, budget, "lbfgs", 10).at(-1)!;
  for await (
    const step of stylize({ content, styles: [style], onTile: (p) => (tiles = p.tiles), options })
  ) {
    stamps.push({ iteration: step.iteration, ms: step.elapsedMs, size: 0 });
  }
  // The final stage's iterations are the last `iterations` steps.
  const last = stamps.slice(-iterations - 1);
  const perIteration = (last.at(-1)!.ms - last[0].ms) / (last.length - 1) / 1000;
  console.log(JSON.stringify({
    final,
    budgetMiB: budget,
    tile: plan.tile,
    tiles,
    historySize: plan.historySize,
    plannedMiB: Math.round((plan.deviceBytes + plan.hostBytes) / MiB),
    secondsPerIteration: perIteration,
    totalSeconds: (performance.now() - started) / 1000,
    peakRssMiB: Math.round(await peakRss() / MiB),
  }));
}

/**
 * A still grid at `width`x`height` (the city photo, scaled to cover it): tiled L-BFGS from
 * the content after Starry Night with the run's plan, then the seam ratio of what it painted
 * (`seamRatio`: gradient energy across tile edges over that across other lines; 1 = no trace).
 */
async function seams(width: number, height: number, iterations: number, budget: number) {
  const { network, setup, reach, executor } = await squeezenetDefaults();
  const plan = planMemory([[height, width]], [height, width], reach, budget, "lbfgs", 10)[0];
  if (plan.tile === null) throw new Error(`${width}x${height} fits whole in ${budget} MiB`);
  const cover = (image: RgbaImage, h: number, w: number) => {
    const t = imageToTensor(image);
    const scale = Math.max(h / t.shape[1], w / t.shape[2]);
    const big = resize(t, Math.ceil(t.shape[1] * scale), Math.ceil(t.shape[2] * scale));
    const out = tf.slice(big, [0, 0, 0, 0], [1, h, w, 3]) as tf.Tensor4D;
    tf.dispose([t, big]);
    return out;
  };
  const content = cover(await photo("city-skyline.jpg"), height, width);
  const starry = await photo("starry-night.jpg");
  const longest = Math.max(width, height);
  const style = cover(
    starry,
    Math.round(longest * starry.height / Math.max(starry.width, starry.height)),
    Math.round(longest * starry.width / Math.max(starry.width, starry.height)),
  );
  let tiles = 0;
  const tiling = {
    tile: plan.tile,
    reach,
    shift: false,
    onTile: (_: number, n: number) => (tiles = n),
  };
  const targets = await tiledStageTargets(
    { executor, network, tiling },
    content,
    [{ images: [style], blend: [1] }],
    setup,
  );
  const preprocessed = tf.tidy(() => network.preprocess(content));
  const start = (await toHost(preprocessed)).data;
  preprocessed.dispose();
  tf.dispose([content, style]);
  const [low, high] = [0, 255].map((v) =>
    Array.from(tf.tidy(() => network.preprocess(tf.fill([1, 1, 1, 3], v))).dataSync())
  );
  const optimizer = await hostLbfgs(
    tiledObjective(executor, network, setup, targets, tiling),
    start.slice(),
    {
      historySize: plan.historySize,
      bounds: { lower: low, upper: high },
    },
  );
  const started = performance.now();
  for (let i = 0; i < iterations; i++) await optimizer.step();
  const seconds = (performance.now() - started) / 1000 / iterations;
  const painted = optimizer.x.map((v, i) => v - start[i]);
  disposeTargets(targets);
  const image = { data: painted, height, width };
  const grid = tileGrid([height, width], plan.tile, reach);
  // Controls: the same measure on the grid's lines moved by every other multiple of the
  // stride. A photo's own structure makes these scatter; a seam would put the tile
  // edges above them.
  const controls: number[] = [];
  for (let d = reach.stride; d < plan.tile; d += reach.stride) {
    const moved = grid.map((t) => ({ ...t, top: t.top && t.top + d, left: t.left && t.left + d }));
    controls.push(seamRatio(image, moved, reach.stride));
  }
  controls.sort((a, b) => a - b);
  const ratio = seamRatio(image, grid, reach.stride);
  return {
    width,
    height,
    tile: plan.tile,
    tiles,
    secondsPerIteration: seconds,
    ratio,
    controls,
    rank: controls.filter((c) => c < ratio).length,
  };
}

/** `deno task bench --tiled [...]`. */
export async function benchTiled(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      size: { type: "string", default: "1024" },
      final: { type: "string", default: "4096" },
      iterations: { type: "string", default: "2" },
      repeat: { type: "string", default: "3" },
      budget: { type: "string" },
      "no-final": { type: "boolean", default: false },
      seams: { type: "string" },
      child: { type: "boolean", default: false },
    },
  });
  const budget = Number(values.budget ?? defaultMemoryBudget());
  await initBackend("wasm");
  if (values.child) {
    await finalStage(Number(values.final), Number(values.iterations), budget);
    return;
  }
  console.log(`bench --tiled on ${await cpuModel()}, tfjs wasm`);
  if (values.seams) {
    const [width, height] = values.seams.split("x").map(Number);
    const r = await seams(width, height, Number(values.iterations), budget);
    console.log(
      `${r.width}x${r.height}, still grid of ${r.tiles} tiles of ${r.tile} px, ` +
        `${r.secondsPerIteration.toFixed(1)} s per iteration: seam ratio of the painted change ` +
        `${r.ratio.toFixed(3)} (1 = no trace of the tile edges); the same lines moved by ` +
        `1..${r.controls.length} strides: ${r.controls[0].toFixed(3)} to ` +
        `${r.controls.at(-1)!.toFixed(3)}, median ${median(r.controls).toFixed(3)}; ` +
        `the tile edges rank ${r.rank + 1} of ${r.controls.length + 1}`,
    );
    return;
  }
  const c = await compare(Number(values.size), Number(values.repeat));
  console.log(
    `${c.size} px, ${c.tiles} tiles of ${c.tile} px (halo ${c.halo}): gradient relative error ` +
      `${c.gradientRelativeError.toExponential(2)}; one evaluation ${c.wholeMs.toFixed(0)} ms ` +
      `whole, ${c.tiledMs.toFixed(0)} ms tiled: ${c.ratio.toFixed(2)}x`,
  );
  if (values["no-final"]) return;
  const child = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      import.meta.filename!,
      "--child",
      "--final",
      values.final,
      "--iterations",
      values.iterations,
      "--budget",
      String(budget),
    ],
    stderr: "inherit",
  }).output();
  const line = new TextDecoder().decode(child.stdout).trim().split("\n").at(-1) ?? "";
  if (!child.success) throw new Error(`the ${values.final} px run failed`);
  const f = JSON.parse(line);
  console.log(
    `${f.final}x${f.final} final stage (SqueezeNet defaults, budget ${f.budgetMiB} MiB): ` +
      `${f.tiles} tiles of ${f.tile} px, L-BFGS history ${f.historySize}; ` +
      `${f.secondsPerIteration.toFixed(1)} s per iteration; peak RSS ${f.peakRssMiB} MiB ` +
      `(planned ${f.plannedMiB} MiB; whole run ${f.totalSeconds.toFixed(0)} s)`,
  );
}

if (import.meta.main) await benchTiled(Deno.args);
