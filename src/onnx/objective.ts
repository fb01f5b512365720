/**
 * @module The style-transfer objective as one ONNX Runtime session per stage.
 *
 * `objectiveModel` writes the network's forward pass to the deepest layer used,
 * the losses and the image-gradient as one graph; `featuresModel` the forward
 * pass to the targets (content activations, style Grams). Sessions are cached
 * by network, image size and loss terms, so a stage re-uses its session for
 * every evaluation and a second job of the same size for its targets too.
 */
import * as tf from "@tensorflow/tfjs";
import type { Features, Grams, LayerScales } from "../engine/losses.ts";
import type { Objective } from "../engine/optimizer.ts";
import type { LossSetup } from "../engine/losses.ts";
import type { GraphLayer } from "../net/graph.ts";
import { GraphBuilder } from "./builder.ts";
import {
  buildLoss,
  COEFFICIENTS,
  coefficients,
  contentInput,
  gram,
  gramInput,
  type LossSpec,
  lossSpec,
  smoothedLayers,
  smoothing,
  type Softmax,
  TEMPERATURES,
} from "./loss.ts";
import { backward, type Blob, forward } from "./network.ts";
import { type Float32Value, OrtSession } from "./runtime.ts";

/** The objective graph's image input (`[1, h, w, 3]`, preprocessed) and outputs. */
const X = "x";
const VALUES = "values";
const GRAD = "grad";

/** Reads `x` (NHWC) and transposes it to the NCHW blob the network reads. */
function imageInput(g: GraphBuilder, [h, w]: readonly [number, number]): { x: Blob; data: Blob } {
  const x = { name: g.input(X, [1, h, w, 3]), shape: [1, h, w, 3] };
  const data = { name: g.node("Transpose", [x.name], { perm: [0, 3, 1, 2] }), shape: [1, 3, h, w] };
  return { x, data };
}

/**
 * The objective graph of `graph` at `h`×`w`: inputs `x`, the targets and
 * {@linkcode COEFFICIENTS}; outputs `values` (`[total, content, style, tv]`)
 * and `grad` (∇ₓ total, NHWC).
 */
export function objectiveModel(
  graph: readonly GraphLayer[],
  size: readonly [number, number],
  spec: LossSpec,
): Uint8Array {
  const g = new GraphBuilder();
  const { x, data } = imageInput(g, size);
  const layers = [...new Set([...spec.content, ...spec.style])];
  const fwd = forward(g, graph, data, layers, true);
  const loss = buildLoss(g, fwd.blobs, spec, x);
  let grad = g.node("Transpose", [backward(g, fwd, loss.featureGrads)], { perm: [0, 2, 3, 1] });
  if (loss.imageGrad) grad = g.node("Add", [grad, loss.imageGrad]);
  g.output(loss.values, VALUES, [4]);
  g.output(grad, GRAD, [1, ...size, 3]);
  return g.encode("restyle-objective");
}

/**
 * The targets graph of `graph` at `h`×`w`: input `x`; outputs `content:<layer>`
 * (NHWC activations) and `gram:<layer>` (Grams).
 */
export function featuresModel(
  graph: readonly GraphLayer[],
  size: readonly [number, number],
  content: readonly string[],
  style: readonly string[],
  softmax?: Softmax,
): Uint8Array {
  const g = new GraphBuilder();
  const { data } = imageInput(g, size);
  const layers = smoothedLayers(content, style);
  const fwd = forward(g, graph, data, layers, false);
  if (softmax) {
    // The targets of a smoothed loss are smoothed too (input `temperatures`, one per layer).
    const temps = g.input(TEMPERATURES, [layers.length]);
    layers.forEach((layer, i) => {
      const tau = g.node("Slice", [temps, g.int64([i]), g.int64([i + 1]), g.int64([0])]);
      const f = fwd.blobs.get(layer)!;
      fwd.blobs.set(layer, { name: smoothing(g, f, tau, softmax).value, shape: f.shape });
    });
  }
  for (const layer of content) {
    const f = fwd.blobs.get(layer)!;
    const [, c, h, w] = f.shape;
    g.output(g.node("Transpose", [f.name], { perm: [0, 2, 3, 1] }), contentInput(layer), [
      1,
      h,
      w,
      c,
    ]);
  }
  for (const layer of style) {
    const f = fwd.blobs.get(layer)!;
    g.output(gram(g, f).gram, gramInput(layer), [f.shape[1], f.shape[1]]);
  }
  return g.encode("restyle-features");
}

/** How many sessions stay loaded (each holds its own copy of the weights). */
const MAX_SESSIONS = 4;
const sessions = new Map<string, OrtSession>();
const graphIds = new WeakMap<readonly GraphLayer[], number>();
let nextGraphId = 0;

/** The cached session of `key` for `graph`, made by `model` on first use; least recently used ones are freed. */
function session(graph: readonly GraphLayer[], key: string, model: () => Uint8Array): OrtSession {
  let id = graphIds.get(graph);
  if (id === undefined) graphIds.set(graph, id = nextGraphId++);
  const full = `${id} ${key}`;
  let found = sessions.get(full);
  if (found) {
    sessions.delete(full);
  } else {
    found = new OrtSession(model());
    while (sessions.size >= MAX_SESSIONS) {
      const [oldest, old] = sessions.entries().next().value!;
      sessions.delete(oldest);
      old.dispose();
    }
  }
  sessions.set(full, found);
  return found;
}

/** Frees every cached session. */
export function releaseSessions(): void {
  for (const s of sessions.values()) s.dispose();
  sessions.clear();
}

function value(t: tf.Tensor): Float32Value {
  return { data: t.dataSync() as Float32Array, dims: t.shape };
}

/**
 * Content activations (NHWC, as `network.features` returns them) and Grams of
 * a preprocessed image `x`, computed by ONNX Runtime.
 */
export function onnxFeatures(
  graph: readonly GraphLayer[],
  x: tf.Tensor4D,
  content: readonly string[],
  style: readonly string[],
  swag?: { over: Softmax; temperatures: LayerScales },
): { features: Features; grams: Grams } {
  const size = [x.shape[1], x.shape[2]] as const;
  const key = `features ${size} | ${content} | ${style} | ${swag?.over}`;
  const feeds: Record<string, Float32Value> = { [X]: value(x) };
  if (swag) {
    feeds[TEMPERATURES] = temperaturesInput(smoothedLayers(content, style), swag.temperatures);
  }
  const out = session(graph, key, () => featuresModel(graph, size, content, style, swag?.over)).run(
    feeds,
  );
  const features: Features = {};
  const grams: Grams = {};
  for (const layer of content) {
    const { data, dims } = out[contentInput(layer)];
    features[layer] = tf.tensor4d(data, dims as [number, number, number, number]);
  }
  for (const layer of style) {
    const { data, dims } = out[gramInput(layer)];
    grams[layer] = tf.tensor2d(data, dims as [number, number]);
  }
  return { features, grams };
}

function temperaturesInput(layers: readonly string[], temperatures: LayerScales): Float32Value {
  return {
    data: Float32Array.from(layers.map((l) => {
      const t = temperatures[l];
      if (!(t > 0)) throw new Error(`SWAG softmax: no positive temperature for layer "${l}"`);
      return t;
    })),
    dims: [layers.length],
  };
}

/** What the objective optimises towards (as `stylize()` computes it per stage). */
export interface OnnxTargets {
  /** SWAG's temperature per layer, when the loss set-up smooths with a softmax. */
  temperatures?: LayerScales;
  content: Features;
  grams: Grams;
  contentScales: LayerScales;
  styleScales: LayerScales;
}

/**
 * The objective x -> [total, content, style, tv] and ∇ₓ total of one stage, as
 * one ONNX Runtime session: the same function as `stylize()`'s tfjs objective.
 * `x` arrives as a tfjs tensor `[1, h, w, 3]` and both results are tfjs tensors,
 * so the optimisers run on it unchanged.
 */
export function onnxObjective(
  graph: readonly GraphLayer[],
  targets: OnnxTargets,
  setup: LossSetup,
  size: readonly [number, number],
): Objective {
  const spec = lossSpec(setup);
  const key = `objective ${size} | ${spec.content} | ${spec.style} | ${spec.tv} | ${spec.softmax}`;
  const model = () => objectiveModel(graph, size, spec);
  session(graph, key, model); // built now, not on the first evaluation
  const constants: Record<string, Float32Value> = {
    [COEFFICIENTS]: {
      data: coefficients(spec, setup, targets.contentScales, targets.styleScales),
      dims: [spec.content.length + spec.style.length + 1],
    },
  };
  for (const layer of spec.content) constants[contentInput(layer)] = value(targets.content[layer]);
  for (const layer of spec.style) constants[gramInput(layer)] = value(targets.grams[layer]);
  if (spec.softmax) {
    constants[TEMPERATURES] = temperaturesInput(
      smoothedLayers(spec.content, spec.style),
      targets.temperatures ?? {},
    );
  }
  return (x) => {
    if (x.shape[1] !== size[0] || x.shape[2] !== size[1]) {
      throw new Error(`onnxObjective: made for ${size.join("x")} images, got ${x.shape.join("x")}`);
    }
    // Looked up per call: a session the cache let go of (other jobs' sizes) is rebuilt.
    const out = session(graph, key, model).run({ ...constants, [X]: value(x) });
    return {
      values: tf.tensor1d(out[VALUES].data),
      grad: tf.tensor(out[GRAD].data, x.shape),
    };
  };
}
