/**
 * @module The executor on ONNX Runtime's native CPU kernels: the network's
 * layer graph, the loss terms and the image-gradient compiled into one graph
 * per image size and term shape (`src/onnx/`).
 *
 * Images and results cross as tfjs tensors (on wasm: a copy in host memory), so
 * the optimisers and the tiled objective run on it unchanged.
 */
import * as tf from "@tensorflow/tfjs";
import type { Term } from "../loss/terms.ts";
import { blobSizes, type GraphLayer } from "../net/graph.ts";
import { COEFFICIENTS, termCoefficients, termInput, termShapes } from "../onnx/loss.ts";
import {
  featuresOutput,
  GRAD,
  gramSumOutput,
  measureMask,
  measureModel,
  objectiveModel,
  SessionCache,
  squareSumOutput,
  VALUES,
  X,
} from "../onnx/objective.ts";
import type { Float32Value } from "../onnx/runtime.ts";
import type { Evaluation, Executor, Measured, MeasureRequest } from "./executor.ts";

/** Tensors already read back: a stage's targets are fed at every evaluation. */
const readBack = new WeakMap<tf.Tensor, Float32Value>();

/** `t`'s data and shape, read back synchronously (the onnx backend keeps tfjs on wasm). */
function value(t: tf.Tensor): Float32Value {
  let found = readBack.get(t);
  if (!found) readBack.set(t, found = { data: t.dataSync() as Float32Array, dims: t.shape });
  return found;
}

/** A `[1, h, w, 1]` mask as ONNX's `[1, 1, h, w]` (the same memory: one channel). */
function channelFirst(mask: tf.Tensor4D): Float32Value {
  const [, h, w] = mask.shape;
  return { data: value(mask).data, dims: [1, 1, h, w] };
}

/** The sizes `x` comes in: `[h, w]` of a `[1, h, w, 3]` image. */
function sizeOf(x: tf.Tensor4D): [number, number] {
  return [x.shape[1], x.shape[2]];
}

/** The feeds of `terms`' numbers: coefficients, targets, seeds and masks. */
function termFeeds(terms: readonly Term[]): Record<string, Float32Value> {
  const feeds: Record<string, Float32Value> = {};
  const coefficients = terms.flatMap(termCoefficients);
  if (coefficients.length) {
    feeds[COEFFICIENTS] = { data: Float32Array.from(coefficients), dims: [coefficients.length] };
  }
  terms.forEach((term, i) => {
    if (term.kind === "content" || term.kind === "style") {
      feeds[termInput(i, "target")] = value(term.target);
    }
    if (term.kind === "styleSeed") feeds[termInput(i, "seed")] = value(term.seed);
    if (term.mask) {
      feeds[termInput(i, "mask")] = term.kind === "tv" ? value(term.mask) : channelFirst(term.mask);
    }
  });
  return feeds;
}

/**
 * The executor of a network's layer `graph` on ONNX Runtime (loaded by the
 * caller: `loadOrt()`).
 */
export function onnxExecutor(graph: readonly GraphLayer[]): Executor {
  const sessions = new SessionCache();
  return {
    name: "onnx",
    fixedShapes: true,
    hostMemory: true,
    measure(x: tf.Tensor4D, request: MeasureRequest): Measured {
      const size = sizeOf(x);
      const shape = {
        features: request.features ?? [],
        grams: request.grams ?? [],
        masked: request.masks !== undefined,
      };
      const key = `measure ${size} | ${shape.features} | ${shape.grams} | ${shape.masked}`;
      const feeds: Record<string, Float32Value> = {
        [X]: { data: x.dataSync() as Float32Array, dims: x.shape },
      };
      for (const layer of shape.masked ? shape.grams : []) {
        feeds[measureMask(layer)] = channelFirst(request.masks![layer]);
      }
      const out = sessions.get(key, () => measureModel(graph, size, shape)).run(feeds);
      const maps = blobSizes(graph, size, shape.grams);
      const measured: Measured = { features: {}, gramSums: {}, squareSums: {}, mapSizes: {} };
      for (const layer of shape.features) {
        const { data, dims } = out[featuresOutput(layer)];
        measured.features[layer] = tf.tensor4d(data, dims as [number, number, number, number]);
      }
      for (const layer of shape.grams) {
        const { data, dims } = out[gramSumOutput(layer)];
        measured.gramSums[layer] = tf.tensor2d(data, dims as [number, number]);
        measured.squareSums[layer] = tf.scalar(out[squareSumOutput(layer)].data[0]);
        measured.mapSizes[layer] = maps[layer][0] * maps[layer][1] * dims[0];
      }
      return measured;
    },
    evaluate(x: tf.Tensor4D, terms: readonly Term[]): Evaluation {
      const size = sizeOf(x);
      const shapes = termShapes(terms);
      const key = `objective ${size} | ${shapes.map((s) => `${s.kind}:${s.layer}:${s.masked}`)}`;
      const session = sessions.get(key, () => objectiveModel(graph, size, shapes));
      const image = { data: x.dataSync() as Float32Array, dims: x.shape }; // changes every call
      const out = session.run({ ...termFeeds(terms), [X]: image });
      return { values: tf.tensor1d(out[VALUES].data), grad: tf.tensor(out[GRAD].data, x.shape) };
    },
    release: () => sessions.clear(),
  };
}
