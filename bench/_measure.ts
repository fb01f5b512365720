/**
 * @module The bench's measurements on one backend (run in a child process per backend).
 *
 * For each network and size: the median time of one loss + image-gradient
 * evaluation with the fast backward pass and with tfjs's default gradients,
 * interleaved so that machine noise hits both alike; L-BFGS iterations per
 * second of a real `stylize()` run; and, through the HTTP API, the time to the
 * first preview and what streaming previews costs per iteration.
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend.ts";
import { mirrorDir, weightsDir } from "../src/config.ts";
import { stylize } from "../src/engine/stylize.ts";
import { decodeImage, encodePng } from "../src/image/codec.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { loadNetwork } from "../src/net/load.ts";
import type { FeatureNetwork, NetworkId } from "../src/net/network.ts";
import type { GraphNetwork } from "../src/net/graph.ts";
import { createVgg16, randomVgg16Weights } from "../src/net/vgg16.ts";
import { setFastBackward } from "../src/ops/fast_backward.ts";
import { makeObjective, type Objective } from "./_objective.ts";
import { ReferenceProcess, type ReferenceSpec } from "./_reference.ts";
import { convGflop } from "./_flops.ts";
import { layersOf } from "../src/net/graph.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { networkOptions } from "../src/engine/run.ts";
import {
  type BenchServer,
  benchServer,
  median,
  previewEncodeMs,
  stylizeOverHttp,
} from "./_server.ts";

/** Pause before each interleaved evaluation, ms: the other side's threads go idle. */
const SETTLE_MS = 500;

/** What the child is asked to measure. */
export interface MeasureOptions {
  backend: string;
  networks: NetworkId[];
  sizes: number[];
  repeat: number;
  iterations: number;
  /** Seconds one evaluation may be estimated to take before a size is skipped. */
  limitS: number;
  /** Scratch directory for the reference's inputs. */
  inputs: string;
  server: boolean;
  /** Interleave the PyTorch reference's evaluations with Restyle's (it is installed). */
  reference: boolean;
}

/** One row of the bench: a network, backend and size. */
export interface Row {
  /** The CPU it ran on, with its SIMD extensions (see `bench/cpu.ts`). */
  cpu?: string;
  network: NetworkId;
  backend: string;
  size: number;
  threads?: number;
  /** Median ms of one loss + gradient evaluation, fast backward on. */
  ms: number | null;
  /** Fastest and slowest of those evaluations. */
  msRange?: [number, number];
  /** Convolution GFLOP of one evaluation (forward + image-gradient; `bench/_flops.ts`). */
  gflop?: number;
  /** `gflop` over the median time. */
  gflops?: number;
  /** `gflops` as a share of the run's GEMM peak (filled in by the parent). */
  peakShare?: number;
  /** The same with tfjs's default gradients. */
  defaultGradMs: number | null;
  /** Median ms of PyTorch's evaluation, interleaved with Restyle's (A B A B …). */
  referenceMs: number | null;
  referenceRange?: [number, number];
  /** Restyle's time over PyTorch's, round by round: the fastest and slowest round. */
  ratioRange?: [number, number];
  referenceThreads?: number;
  loss?: number;
  referenceLoss?: number;
  lbfgsItersPerS?: number | null;
  /** Loss evaluations L-BFGS made per iteration (its line search may need several). */
  lbfgsEvaluationsPerIteration?: number | null;
  firstPreviewMs?: number | null;
  firstPreviewColdMs?: number | null;
  /** Server cost of one preview (end to end: stylize with previews every iteration vs once). */
  previewOverheadMs?: number | null;
  /** PNG encode + base64 of one preview, timed alone. */
  previewEncodeMs?: number | null;
  iterationMs?: number | null;
  notes: string[];
  reference?: ReferenceSpec;
}

/** The pooling and padding the engine's default preset of `id` runs with. */
function defaultNetworkOptions(id: NetworkId) {
  return networkOptions(stylizeOptionsSchema.parse({ network: id }));
}

/** `id` as the engine runs it by default (its preset's pooling and padding). */
export async function openNetwork(id: NetworkId): Promise<GraphNetwork> {
  const options = defaultNetworkOptions(id);
  return id === "vgg16"
    ? createVgg16(randomVgg16Weights(), options)
    : await loadNetwork(id, options);
}

/** Writes the network's weights in the store layout for the reference (VGG16's are random). */
async function weightsForReference(network: GraphNetwork, dir: string): Promise<string> {
  if (network.id !== "vgg16") return `${weightsDir()}/${network.id}`;
  const out = `${dir}/vgg16-random`;
  await Deno.mkdir(out, { recursive: true });
  const { data, specs } = await tf.io.encodeWeights(network.weights);
  await Deno.writeFile(`${out}/weights.bin`, new Uint8Array(data));
  await Deno.writeTextFile(`${out}/weights.json`, JSON.stringify({ weights: specs }));
  return out;
}

async function writeF32(path: string, t: tf.Tensor): Promise<string> {
  const values = await t.data() as Float32Array;
  await Deno.writeFile(path, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  return path;
}

async function timeOnce(
  objective: Objective,
  fast: boolean,
): Promise<{ ms: number; loss: number }> {
  setFastBackward(fast);
  try {
    const start = performance.now();
    const { value, grad } = objective.evaluate();
    await grad.data();
    const ms = performance.now() - start;
    const loss = (await value.data())[0];
    tf.dispose([value, grad]);
    return { ms, loss };
  } finally {
    setFastBackward(true);
  }
}

/** Centre square of `image`, `side` px (nearest neighbour), so every size has size² pixels. */
export function squareImage(image: RgbaImage, side: number): RgbaImage {
  const crop = Math.min(image.width, image.height);
  const x0 = (image.width - crop) >> 1;
  const y0 = (image.height - crop) >> 1;
  const data = new Uint8Array(side * side * 4);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const sx = x0 + Math.floor((x * crop) / side);
      const sy = y0 + Math.floor((y * crop) / side);
      data.set(
        image.data.subarray((sy * image.width + sx) * 4, (sy * image.width + sx) * 4 + 4),
        (y * side + x) * 4,
      );
    }
  }
  return { width: side, height: side, data };
}

/** Real photos from the mirror when there is one, else smooth synthetic pictures. */
export async function benchImages(): Promise<{ content: RgbaImage; style: RgbaImage }> {
  const mirror = mirrorDir();
  if (mirror) {
    try {
      return {
        content: await decodeImage(await Deno.readFile(`${mirror}/images/golden-gate.jpg`)),
        style: await decodeImage(await Deno.readFile(`${mirror}/images/great-wave.jpg`)),
      };
    } catch {
      // fall through to synthetic images
    }
  }
  const synthetic = (phase: number): RgbaImage => {
    const side = 512;
    const data = new Uint8Array(side * side * 4);
    for (let i = 0; i < side * side; i++) {
      const x = i % side, y = Math.floor(i / side);
      data.set([
        128 + 120 * Math.sin(x / 13 + phase),
        128 + 120 * Math.cos(y / 17),
        (x ^ y) & 255,
        255,
      ], i * 4);
    }
    return { width: side, height: side, data };
  };
  return { content: synthetic(0), style: synthetic(2) };
}

async function lbfgsRun(
  network: FeatureNetwork,
  images: { content: RgbaImage; style: RgbaImage },
  size: number,
  iterations: number,
): Promise<{ itersPerS: number; evaluationsPerIteration: number }> {
  const stamps: number[] = [];
  let evaluationsAtFirstStep = 0;
  let evaluations = 0;
  for await (
    const step of stylize({
      content: squareImage(images.content, size),
      styles: [squareImage(images.style, size)],
      network,
      // One stage at `size`: the default would run a half-size stage first.
      options: {
        network: network.id,
        maxSize: size,
        scales: [size],
        iterations,
        previewEvery: iterations,
        seed: 7,
      },
    })
  ) {
    stamps.push(performance.now());
    if (step.iteration === 1) evaluationsAtFirstStep = step.evaluations;
    evaluations = step.evaluations;
  }
  return {
    itersPerS: (stamps.length - 1) / ((stamps.at(-1)! - stamps[0]) / 1000),
    evaluationsPerIteration: (evaluations - evaluationsAtFirstStep) / (stamps.length - 1),
  };
}

/** Time to first preview (cold and warm) and the per-preview cost, through the HTTP API. */
async function measureServer(
  server: BenchServer,
  row: Row,
  images: { content: RgbaImage; style: RgbaImage },
  cold: boolean,
): Promise<void> {
  const content = await encodePng(squareImage(images.content, row.size));
  const style = await encodePng(squareImage(images.style, row.size));
  const base = { network: row.network, maxSize: row.size };
  const first = await stylizeOverHttp(server.url, content, style, {
    ...base,
    iterations: 2,
    previewEvery: 1,
  });
  if (cold) row.firstPreviewColdMs = first.firstPreviewMs;
  const warm = await stylizeOverHttp(server.url, content, style, {
    ...base,
    iterations: 2,
    previewEvery: 1,
  });
  row.firstPreviewMs = warm.firstPreviewMs;
  // Same seed, same iterations: the runs differ only in how many previews they stream.
  // Eight iterations, three interleaved pairs: a few percent is the signal, so fewer
  // drown it in this shared machine's noise.
  const k = 8;
  const every: number[] = [];
  const once: number[] = [];
  for (let i = 0; i < 3; i++) {
    every.push(
      (await stylizeOverHttp(server.url, content, style, {
        ...base,
        iterations: k,
        previewEvery: 1,
      })).totalMs,
    );
    once.push(
      (await stylizeOverHttp(server.url, content, style, {
        ...base,
        iterations: k,
        previewEvery: k,
      })).totalMs,
    );
  }
  row.iterationMs = median(once) / k;
  row.previewOverheadMs = (median(every) - median(once)) / (k - 1);
  row.previewEncodeMs = await previewEncodeMs(squareImage(images.content, row.size));
}

/** Measures every network and size on `options.backend`; `emit` gets each row as it is done. */
export async function measure(options: MeasureOptions, emit: (row: Row) => void): Promise<void> {
  const info = await initBackend(options.backend as "wasm");
  const images = await benchImages();
  let server: BenchServer | undefined;
  const serverNetworks = new Set<string>();
  try {
    for (const id of options.networks) {
      let network: GraphNetwork;
      try {
        network = await openNetwork(id);
      } catch (error) {
        for (const size of options.sizes) {
          emit({
            network: id,
            backend: options.backend,
            size,
            ms: null,
            defaultGradMs: null,
            referenceMs: null,
            notes: [(error as Error).message.split("\n")[0]],
          });
        }
        continue;
      }
      const weights = await weightsForReference(network, options.inputs);
      let last: { size: number; fast: number; slow: number | null } | undefined;
      for (const size of [...options.sizes].sort((a, b) => a - b)) {
        const row: Row = {
          network: id,
          backend: options.backend,
          size,
          threads: info.threads,
          ms: null,
          defaultGradMs: null,
          referenceMs: null,
          notes: [],
        };
        const grow = last ? (size / last.size) ** 2 : 1;
        const estimate = (ms: number | null | undefined) => (ms == null ? Infinity : ms * grow);
        if (last && estimate(last.fast) > options.limitS * 1000) {
          row.notes.push(
            `skipped: estimated ${(estimate(last.fast) / 1000).toFixed(0)} s per evaluation`,
          );
          emit(row);
          continue;
        }
        const native = options.backend === "onnx";
        const objective = await makeObjective(network, size, undefined, { native });
        let reference: ReferenceProcess | undefined;
        try {
          const warm = await timeOnce(objective, true);
          row.loss = warm.loss;
          const prefix = `${options.inputs}/${id}-${size}`;
          row.reference = {
            network: id,
            weights,
            size,
            repeat: options.repeat,
            inputs: {
              x: await writeF32(`${prefix}-x.f32`, objective.x),
              content: await writeF32(`${prefix}-content.f32`, objective.content),
              style: await writeF32(`${prefix}-style.f32`, objective.style),
            },
            ...objective.setup,
            pooling: defaultNetworkOptions(id).pooling ?? "max",
            padding: defaultNetworkOptions(id).padding ?? "zero",
          };
          if (options.reference) {
            try {
              reference = await ReferenceProcess.start(row.reference, `${prefix}.json`);
              row.referenceLoss = reference.ready.loss;
              row.referenceThreads = reference.ready.threads;
            } catch (error) {
              row.notes.push((error as Error).message.split("\n")[0]);
            }
          }
          // tfjs's default gradients do not exist on the native path.
          const slowAllowed = !native && (!last || estimate(last.slow) <= options.limitS * 1000);
          let slowWarm: number | null = null;
          if (slowAllowed) slowWarm = (await timeOnce(objective, false)).ms;
          else if (!native) {
            row.notes.push(
              `default gradients skipped: estimated ${(estimate(last!.slow) / 1000).toFixed(0)} s`,
            );
          }
          const referenceWarm = reference ? await reference.evaluate() : 0;
          const perRound = warm.ms + (slowWarm ?? 0) + referenceWarm;
          const rounds = Math.max(1, Math.min(options.repeat, Math.floor(60_000 / perRound)));
          const fast: number[] = [];
          const slow: number[] = [];
          const torch: number[] = [];
          // A B A B …: Restyle, then PyTorch, in turn, so that the machine's noise hits both.
          // Each starts after a pause: PyTorch's OpenMP threads spin on after an evaluation and
          // took the cores from the Restyle evaluation that followed (GoogLeNet at 512 px:
          // 450 ms instead of 190 ms).
          const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
          for (let i = 0; i < rounds; i++) {
            if (reference) await settle();
            fast.push((await timeOnce(objective, true)).ms);
            if (reference) await settle();
            if (reference) torch.push(await reference.evaluate());
            if (slowWarm !== null) slow.push((await timeOnce(objective, false)).ms);
          }
          row.ms = median(fast);
          row.msRange = [Math.min(...fast), Math.max(...fast)];
          row.defaultGradMs = slow.length ? median(slow) : null;
          const graph = layersOf(network);
          if (graph) {
            const used = [
              ...Object.keys(objective.setup.contentLayers),
              ...Object.keys(objective.setup.styleLayers),
            ];
            row.gflop = convGflop(graph, size, used);
            row.gflops = row.gflop / (row.ms / 1000);
          }
          if (torch.length) {
            row.referenceMs = median(torch);
            row.referenceRange = [Math.min(...torch), Math.max(...torch)];
            const ratios = fast.map((f, i) => f / torch[i]);
            row.ratioRange = [Math.min(...ratios), Math.max(...ratios)];
            if (Math.abs(row.referenceLoss! - row.loss) > 1e-3 * Math.abs(row.referenceLoss!)) {
              row.notes.push(
                `PyTorch loss ${row.referenceLoss} differs from Restyle's ${row.loss}`,
              );
            }
          }
          if (rounds < options.repeat) row.notes.push(`${rounds} timed rounds`);
          last = { size, fast: row.ms, slow: row.defaultGradMs };
        } finally {
          await reference?.close();
          objective.dispose();
        }
        // L-BFGS evaluates the loss ~1-2 times per iteration; keep the run under the limit.
        const iterations = Math.min(
          options.iterations,
          Math.floor((options.limitS * 1000) / (1.5 * row.ms!)),
        );
        const run = iterations >= 3 ? await lbfgsRun(network, images, size, iterations) : null;
        row.lbfgsItersPerS = run?.itersPerS ?? null;
        row.lbfgsEvaluationsPerIteration = run?.evaluationsPerIteration ?? null;
        if (row.lbfgsItersPerS === null) row.notes.push("L-BFGS run skipped (too slow)");
        if (options.server && id !== "vgg16" && row.ms! < 5000) {
          server ??= await benchServer();
          await measureServer(server, row, images, !serverNetworks.has(id));
          serverNetworks.add(id);
        }
        emit(row);
      }
      network.dispose();
    }
  } finally {
    // A keep-alive connection can hold shutdown open; the numbers are in by now.
    const timeout = new Promise((resolve) => setTimeout(resolve, 5000));
    await Promise.race([server?.close(), timeout]);
  }
}
