/**
 * @module `deno task bench --optimizers`: loss against evaluations, per optimiser, on one objective.
 *
 * One fixed objective — the network's default preset (read from
 * `src/net/presets.ts` at run time), cat.png after starry-night.jpg from the
 * mirror's images, `--size` px on the longest side, from seeded noise — is
 * minimised by Restyle's L-BFGS with each line search, Restyle's Adam (default
 * learning rate) and SciPy's L-BFGS-B (m = 10, the pixel range as bounds)
 * driving the PyTorch reference objective (`bench/reference/gatys.py`) from
 * the same start image. Printed: the lowest loss each reached within 10, 25,
 * 50, 100, … evaluations (one evaluation = one loss + gradient), how many
 * evaluations each needed to reach SciPy's loss at `--evaluations`, and the
 * two objectives' values at the start (they must agree).
 *
 * ```sh
 * deno task bench --optimizers                     # SqueezeNet, 192 px, 100 evaluations
 * deno task bench --optimizers --network googlenet --size 128
 * ```
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend.ts";
import { mirrorDir, weightsDir } from "../src/config.ts";
import { adam } from "../src/engine/adam.ts";
import { noiseImage } from "../src/engine/init.ts";
import { lbfgs, type LbfgsOptions } from "../src/engine/lbfgs.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import type { Evaluation, Objective, Optimizer } from "../src/engine/optimizer.ts";
import { decodeImage } from "../src/image/codec.ts";
import { imageToTensorFit } from "../src/image/tensor.ts";
import { loadNetwork } from "../src/net/load.ts";
import { NETWORK_IDS, type NetworkId } from "../src/net/network.ts";
import { makeObjective } from "./_objective.ts";
import { type ReferenceOptimizeResult, type ReferenceSpec, runReference } from "./_reference.ts";

const USAGE = `usage: deno task bench --optimizers [--network ID] [--size PX] [--evaluations N]
  [--seed N] [--content FILE] [--style FILE] [--no-reference]`;

/** One optimiser's run: the loss at each evaluation, in order. */
interface Run {
  name: string;
  losses: number[];
  ms: number;
  note?: string;
}

function wholeNumber(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`--${flag}: expected a whole number ≥ ${min}, got "${value}"`);
  }
  return n;
}

function parseFlags(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      network: { type: "string", default: "squeezenet" },
      size: { type: "string", default: "192" },
      evaluations: { type: "string", default: "100" },
      seed: { type: "string", default: "1" },
      content: { type: "string", default: "cat.png" },
      style: { type: "string", default: "starry-night.jpg" },
      "no-reference": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (!NETWORK_IDS.includes(values.network as NetworkId) || values.network === "vgg16") {
    throw new Error(
      `--network: "${values.network}" is not one with real weights; use squeezenet or googlenet`,
    );
  }
  return {
    ...values,
    network: values.network as NetworkId,
    size: wholeNumber(values.size, "size", 16),
    evaluations: wholeNumber(values.evaluations, "evaluations", 10),
    seed: wholeNumber(values.seed, "seed", 0),
  };
}

/** The lowest loss within the first `n` evaluations (`NaN` if the run made fewer). */
function bestWithin(losses: number[], n: number): number {
  return losses.length < n ? NaN : Math.min(...losses.slice(0, n));
}

/** How many evaluations the run needed to get to `target` or below (`null`: it never did). */
function evaluationsTo(losses: number[], target: number): number | null {
  const i = losses.findIndex((loss) => loss <= target);
  return i < 0 ? null : i + 1;
}

async function cpuModel(): Promise<string> {
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    return info.match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

async function readImage(name: string) {
  const mirror = mirrorDir();
  const path = name.includes("/") ? name : `${mirror ?? "."}/images/${name}`;
  try {
    return await decodeImage(await Deno.readFile(path));
  } catch (error) {
    throw new Error(
      `cannot read ${path} (${(error as Error).message}); set RESTYLE_MIRROR to a directory ` +
        `with images/, or pass --content/--style paths`,
    );
  }
}

async function writeF32(path: string, t: tf.Tensor): Promise<string> {
  const values = await t.data() as Float32Array;
  await Deno.writeFile(path, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return path;
}

/**
 * Steps `optimizer` until the objective has been evaluated `budget` times (or the
 * optimiser stops evaluating); `losses` is filled by the counting objective.
 */
async function drive(
  start: (objective: Objective) => Promise<Optimizer>,
  evaluate: (x: tf.Tensor4D) => Evaluation,
  budget: number,
  done: (losses: number[]) => boolean = () => false,
): Promise<{ losses: number[]; ms: number }> {
  const pending: tf.Tensor[] = [];
  const objective: Objective = (x) => {
    const { values: terms, grad } = evaluate(x as tf.Tensor4D);
    const values = tf.slice(terms, [0], [1]) as tf.Tensor1D;
    terms.dispose();
    pending.push(values.clone());
    return { values, grad };
  };
  const read = async () => {
    const all = tf.concat(pending);
    try {
      return Array.from(await all.data());
    } finally {
      all.dispose();
    }
  };
  const began = performance.now();
  const optimizer = await start(objective);
  try {
    while (pending.length < budget) {
      const before = pending.length;
      await optimizer.step();
      if (pending.length === before) break; // converged or stalled: no further evaluations
      if (done(await read())) break;
    }
  } finally {
    optimizer.dispose();
  }
  const ms = performance.now() - began;
  const losses = await read();
  tf.dispose(pending);
  return { losses, ms };
}

function table(runs: Run[], marks: number[], target: number): string {
  const fmt = (v: number) => (Number.isNaN(v) ? "–" : v.toPrecision(4));
  const header = [
    "optimiser",
    ...marks.map((n) => `${n} ev`),
    "ev to SciPy's",
    "evaluations",
    "seconds",
  ];
  const body = runs.map((run) => [
    run.name,
    ...marks.map((n) => fmt(bestWithin(run.losses, n))),
    Number.isNaN(target)
      ? "–"
      : String(evaluationsTo(run.losses, target) ?? `> ${run.losses.length}`),
    String(run.losses.length),
    (run.ms / 1000).toFixed(1),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(" | ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...body.map(line)].join("\n");
}

/** Runs the optimiser comparison with `args` (the flags after `--optimizers`). */
export async function benchOptimizers(args: string[]): Promise<void> {
  const flags = parseFlags(args);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const info = await initBackend();
  const cpu = await cpuModel();
  const network = await loadNetwork(flags.network);
  const contentRgb = imageToTensorFit(await readImage(flags.content), flags.size);
  const styleRgb = imageToTensorFit(await readImage(flags.style), flags.size);
  const [, h, w] = contentRgb.shape;
  const objective = await makeObjective(network, flags.size, {
    content: tf.tidy(() => network.preprocess(contentRgb)),
    style: tf.tidy(() => network.preprocess(styleRgb)),
    x: noiseImage([1, h, w, 3], flags.seed),
  });
  // Valid pixels, in preprocessed space, per channel: the images of RGB 0 and RGB 255.
  const low = tf.tidy(() => network.preprocess(tf.zeros([1, 1, 1, 3])));
  const high = tf.tidy(() => network.preprocess(tf.fill([1, 1, 1, 3], 255)));
  const clip = (t: tf.Tensor) => tf.minimum(tf.maximum(t, low), high);
  const budget = flags.evaluations;
  const runs: Run[] = [];
  const scratch = await Deno.makeTempDir({ prefix: "restyle-bench-optimizers-" });
  const { setup } = objective;
  const described = `${flags.network} preset "default" (content ${
    Object.keys(setup.contentLayers).join(", ")
  }; style ${
    Object.keys(setup.styleLayers).join(", ")
  }; weights ${setup.contentWeight}/${setup.styleWeight}/${setup.tvWeight}${
    setup.normalize ? ", normalized" : ""
  }), ${flags.content} after ${flags.style}, ${w}x${h} px, noise seed ${flags.seed}`;
  console.error(`bench: ${described}`);
  let reference: ReferenceOptimizeResult | null = null;
  let referenceMissing = "--no-reference";
  try {
    if (!flags["no-reference"]) {
      console.error("bench: SciPy L-BFGS-B on the PyTorch reference …");
      const [lower, upper] = [Array.from(await low.data()), Array.from(await high.data())];
      const spec: ReferenceSpec = {
        network: flags.network,
        weights: `${weightsDir()}/${flags.network}`,
        size: flags.size,
        repeat: 1,
        inputs: {
          x: await writeF32(`${scratch}/x.f32`, objective.x),
          content: await writeF32(`${scratch}/content.f32`, objective.content),
          style: await writeF32(`${scratch}/style.f32`, objective.style),
        },
        shapes: {
          x: [h, w],
          content: [h, w],
          style: [styleRgb.shape[1], styleRgb.shape[2]],
        },
        ...setup,
        optimize: { maxfun: budget, m: 10, lower, upper },
      };
      const began = performance.now();
      try {
        reference = await runReference<ReferenceOptimizeResult>(spec, `${scratch}/spec.json`);
        runs.push({
          name: `SciPy ${reference.scipy} L-BFGS-B (m=10)`,
          losses: reference.losses,
          ms: performance.now() - began,
          note: reference.message,
        });
      } catch (error) {
        referenceMissing = (error as Error).message.split("\n").at(-1)!;
      }
    }
    const target = reference ? bestWithin(reference.losses, budget) : NaN;
    // L-BFGS runs on past the budget (to twice it) until it reaches SciPy's loss.
    const reached = (losses: number[]) =>
      losses.length >= budget && !(Math.min(...losses) > target);
    // Every setting spelled out, so a row means the same whatever lbfgs()'s defaults are.
    const variants: [string, LbfgsOptions][] = [
      ["strong Wolfe, RMS-scaled H0", {
        lineSearch: "strong-wolfe",
        preconditioner: "rms",
        firstStepRms: 10,
        maxLineSearch: 25,
      }],
      ["strong Wolfe", {
        lineSearch: "strong-wolfe",
        preconditioner: "none",
        firstStepRms: 10,
        maxLineSearch: 25,
      }],
      ["Armijo, RMS-scaled H0", {
        lineSearch: "armijo",
        preconditioner: "rms",
        firstStepRms: 10,
        maxLineSearch: 25,
      }],
      ["Armijo, the engine's default", {
        lineSearch: "armijo",
        preconditioner: "none",
        firstStepRms: 1,
        maxLineSearch: 10,
      }],
    ];
    for (const [variant, options] of variants) {
      const name = `Restyle L-BFGS (${variant})`;
      console.error(`bench: ${name} …`);
      const run = await drive(
        (f) => lbfgs(f, objective.x, { ...options, project: clip }),
        objective.at,
        2 * budget,
        reached,
      );
      runs.push({ name, ...run });
    }
    const learningRate = stylizeOptionsSchema.parse({}).learningRate;
    console.error(`bench: Restyle Adam (learning rate ${learningRate}) …`);
    const run = await drive(
      (f) => adam(f, objective.x, { project: clip, learningRate }),
      objective.at,
      budget,
    );
    runs.push({ name: `Restyle Adam (lr ${learningRate})`, ...run });

    const longest = Math.max(...runs.map((r) => r.losses.length));
    const marks = [...new Set([10, 25, 50, budget, 2 * budget])]
      .filter((n) => n <= longest)
      .sort((a, b) => a - b);
    console.log(`${described}`);
    console.log(
      `backend ${info.backend} (${info.threads} threads), CPU: ${cpu}; ` +
        `lowest loss within N evaluations (one evaluation = loss + gradient):\n`,
    );
    console.log(table(runs, marks, target));
    console.log();
    const restyle = runs.find((r) => r.name === "Restyle L-BFGS (strong Wolfe)")!;
    const adamRun = runs.at(-1)!;
    if (reference) {
      const start = restyle.losses[0], theirs = reference.losses[0];
      console.log(
        `objective at the start: Restyle ${start.toPrecision(7)}, PyTorch ${
          theirs.toPrecision(7)
        } (relative difference ${(Math.abs(start - theirs) / Math.abs(theirs)).toExponential(1)})`,
      );
      if (Math.abs(start - theirs) > 1e-4 * Math.abs(theirs)) {
        console.log("WARNING: the two objectives differ; the comparison with SciPy is void");
      }
      console.log(`SciPy: ${reference.message} (${reference.nit} iterations)`);
      const n = evaluationsTo(restyle.losses, target);
      console.log(
        `evaluations for Restyle L-BFGS to reach SciPy's loss at ${budget} evaluations (${
          target.toPrecision(4)
        }): ${n ?? `more than ${restyle.losses.length}`}`,
      );
    } else {
      console.log(`no SciPy reference: ${referenceMissing}`);
    }
    console.log(
      `at ${budget} evaluations: Restyle L-BFGS ${
        bestWithin(restyle.losses, budget).toPrecision(4)
      }, Adam ${bestWithin(adamRun.losses, budget).toPrecision(4)}`,
    );
    const dir = new URL("./results/", import.meta.url).pathname;
    await Deno.mkdir(dir, { recursive: true });
    const file = `${dir}optimizers-${new Date().toISOString().replace(/[:.]/g, "-")}.json`;
    await Deno.writeTextFile(
      file,
      JSON.stringify({ flags, cpu, backend: info, setup, runs }, null, 2),
    );
    console.error(`bench: wrote ${file}`);
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
    objective.dispose();
    tf.dispose([contentRgb, styleRgb, low, high]);
    network.dispose();
  }
}

if (import.meta.main) {
  try {
    await benchOptimizers(Deno.args);
    Deno.exit(0); // idle wasm pthread workers must not keep the process alive
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}
