/**
 * @module A network as a list of named layers in forward order.
 *
 * Each layer reads earlier blobs by name and produces one blob of its own name,
 * as in a Caffe prototxt. `runGraph` evaluates the list up to the deepest blob
 * asked for and returns just those, freeing every intermediate.
 */
import * as tf from "@tensorflow/tfjs";
import type { BlobSize, LayerOp } from "../ops/layer_op.ts";
import { opOutputSize } from "../ops/layer_op.ts";
import { runOp } from "../ops/run_op.ts";
import type { FeatureNetwork, NetworkId, Pooling, Preset } from "./network.ts";
import { PRESETS } from "./presets.ts";

export type { BlobSize, LayerOp } from "../ops/layer_op.ts";

/** One layer: its output blob's name, the blobs it reads, and what it computes (as data). */
export interface GraphLayer {
  name: string;
  inputs: readonly string[];
  op: LayerOp;
}

/** The input blob's name. */
export const INPUT = "data";

/** Names of all layers, in forward order. */
export function layerNames(graph: readonly GraphLayer[]): string[] {
  return graph.map((layer) => layer.name);
}

/** The layers needed for `wanted`, in forward order; throws naming a layer the graph lacks. */
export function layersFor(graph: readonly GraphLayer[], wanted: readonly string[]): GraphLayer[] {
  const names = new Set(graph.map((l) => l.name));
  for (const name of wanted) {
    if (!names.has(name)) {
      throw new Error(`unknown layer "${name}"; layers are: ${layerNames(graph).join(", ")}`);
    }
  }
  const needed = new Set(wanted);
  const kept: GraphLayer[] = [];
  for (let i = graph.length - 1; i >= 0; i--) {
    const layer = graph[i];
    if (!needed.has(layer.name)) continue;
    layer.inputs.forEach((name) => needed.add(name));
    kept.unshift(layer);
  }
  return kept;
}

/**
 * The one walk over a graph: forward through the layers `wanted` needs, each blob's
 * value made by `step` from its inputs' values, starting from `input`'s. What the
 * value is — a tensor, a size, a receptive field, an ONNX node — is the caller's.
 *
 * @example
 * ```ts
 * // Output sizes, from the ops' geometry alone:
 * walkGraph(graph, ["fire7/concat"], [227, 227] as BlobSize, (l, sizes) => opOutputSize(l.op, sizes));
 * ```
 */
export function walkGraph<T>(
  graph: readonly GraphLayer[],
  wanted: readonly string[],
  input: T,
  step: (layer: GraphLayer, inputs: T[]) => T,
): Map<string, T> {
  const values = new Map<string, T>([[INPUT, input]]);
  for (const layer of layersFor(graph, wanted)) {
    values.set(layer.name, step(layer, layer.inputs.map((name) => values.get(name)!)));
  }
  return values;
}

/**
 * Runs `graph` on `x` (tfjs) as far as `wanted` needs and returns those blobs.
 * Throws naming the layer when one is unknown.
 */
export function runGraph(
  graph: readonly GraphLayer[],
  x: tf.Tensor4D,
  wanted: readonly string[],
): Record<string, tf.Tensor4D> {
  return tf.tidy(() => {
    const blobs = walkGraph(graph, wanted, x, (layer, xs) => runOp(layer.op, xs));
    return Object.fromEntries(wanted.map((name) => [name, blobs.get(name)!]));
  });
}

/**
 * The `[height, width]` of each of `wanted` for an input of `input`, walking the
 * ops' geometry only (no tensor is made). A side below 1 means that blob cannot
 * be computed at this input size.
 */
export function blobSizes(
  graph: readonly GraphLayer[],
  input: BlobSize,
  wanted: readonly string[],
): Record<string, BlobSize> {
  // Once a side is gone, everything after it is gone too.
  const sizes = walkGraph(
    graph,
    wanted,
    input,
    (layer, inputs): BlobSize =>
      inputs.some(([h, w]) => h < 1 || w < 1) ? [0, 0] : opOutputSize(layer.op, inputs),
  );
  return Object.fromEntries(wanted.map((name) => [name, sizes.get(name)!]));
}

/** What a graph network is made of. */
export interface GraphNetworkSpec {
  id: NetworkId;
  graph: GraphLayer[];
  /** Preprocessing means, B G R. */
  meanBgr: readonly [number, number, number];
  pooling: Pooling;
  /** Weights the graph's layers hold; freed by `dispose()`. */
  tensors: tf.NamedTensorMap;
  /** Classification head, for networks that keep theirs. */
  head?: ClassifierHead;
  labels?: readonly string[];
  /** True when `tensors` are shared with other instances: `dispose()` then leaves them. */
  sharedTensors?: boolean;
}

/** A classifier on top of one blob. */
export interface ClassifierHead {
  /** The blob the head reads. */
  input: string;
  /** Side the network was trained at (square). */
  inputSize: number;
  /** Blob -> class logits `[1, classes]`. */
  run(x: tf.Tensor4D): tf.Tensor2D;
}

const graphs = new WeakMap<object, readonly GraphLayer[]>();

/**
 * The layer list of `network` in forward order, for runtimes that build their own
 * graph from it (`src/onnx/`); `undefined` for anything but a {@linkcode GraphNetwork}
 * (a wrapper made with `Object.create` included). A free function, so the list stays
 * out of the class's API.
 */
export function layersOf(network: FeatureNetwork): readonly GraphLayer[] | undefined {
  return graphs.get(network);
}

/** A {@link FeatureNetwork} evaluated from a layer graph, optionally able to classify. */
export class GraphNetwork implements FeatureNetwork {
  readonly id: NetworkId;
  readonly layers: readonly string[];
  readonly mean: readonly [number, number, number];
  readonly presets: Readonly<Record<string, Preset>>;
  /** Downsampling pooling this instance uses. */
  readonly pooling: Pooling;
  /** Class labels (line i = class i), when the weights carry them. */
  readonly labels?: readonly string[];
  readonly #spec: GraphNetworkSpec;

  /** Wraps a built graph and its weights (the network modules' factories call this). */
  constructor(spec: GraphNetworkSpec) {
    this.#spec = spec;
    graphs.set(this, spec.graph);
    this.id = spec.id;
    this.layers = layerNames(spec.graph);
    this.mean = spec.meanBgr;
    this.presets = PRESETS[spec.id];
    this.pooling = spec.pooling;
    this.labels = spec.labels;
  }

  /**
   * The weight tensors, by canonical name (`<layer>/kernel`, `<layer>/bias`).
   */
  get weights(): tf.NamedTensorMap {
    return this.#spec.tensors;
  }

  /** Side of the square input the classifier was trained at; `undefined` without a head. */
  get inputSize(): number | undefined {
    return this.#spec.head?.inputSize;
  }

  /**
   * RGB 0..255 `[1, h, w, 3]` -> BGR minus the mean (Caffe's input space).
   */
  preprocess(rgb: tf.Tensor4D): tf.Tensor4D {
    return toBgrMinusMean(rgb, this.mean);
  }

  /**
   * Inverse of `preprocess`, clipped to 0..255 RGB.
   */
  deprocess(x: tf.Tensor4D): tf.Tensor4D {
    return fromBgrMinusMean(x, this.mean);
  }

  /**
   * Runs the graph as far as the deepest layer asked for; returns those activations.
   */
  features(x: tf.Tensor4D, layers: readonly string[]): Record<string, tf.Tensor4D> {
    return runGraph(this.#spec.graph, x, layers);
  }

  /**
   * `[height, width]` of each of `layers` for an input of `input`, from the
   * layers' geometry alone; a side below 1 means the layer cannot run there.
   */
  outputSizes(
    input: readonly [number, number],
    layers: readonly string[],
  ): Record<string, readonly [number, number]> {
    return blobSizes(this.#spec.graph, input, layers);
  }

  /**
   * Class logits `[1, classes]` of a preprocessed image (throws for a network without a head).
   */
  logits(x: tf.Tensor4D): tf.Tensor2D {
    const head = this.#spec.head;
    if (!head) throw new Error(`${this.id} has no classifier head`);
    return tf.tidy(() => head.run(runGraph(this.#spec.graph, x, [head.input])[head.input]));
  }

  dispose(): void {
    if (!this.#spec.sharedTensors) tf.dispose(this.#spec.tensors);
  }
}

/** RGB 0..255 `[1, h, w, 3]` -> BGR minus `meanBgr`. */
export function toBgrMinusMean(
  rgb: tf.Tensor4D,
  meanBgr: readonly [number, number, number],
): tf.Tensor4D {
  return tf.tidy(() => tf.sub(tf.reverse(rgb, -1), tf.tensor1d([...meanBgr])));
}

/** Inverse of {@link toBgrMinusMean}, clipped to 0..255 RGB. */
export function fromBgrMinusMean(
  x: tf.Tensor4D,
  meanBgr: readonly [number, number, number],
): tf.Tensor4D {
  return tf.tidy(() =>
    tf.clipByValue(tf.reverse(tf.add(x, tf.tensor1d([...meanBgr])), -1), 0, 255)
  );
}
