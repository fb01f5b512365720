/**
 * @module A network as a list of named layers in forward order.
 *
 * Each layer reads earlier blobs by name and produces one blob of its own name,
 * as in a Caffe prototxt. `runGraph` evaluates the list up to the deepest blob
 * asked for and returns just those, freeing every intermediate.
 */
import * as tf from "@tensorflow/tfjs";
import type { ConvLayer } from "../ops/conv.ts";
import type { PoolSpec } from "../ops/pool.ts";
import type { FeatureNetwork, NetworkId, Pooling, Preset } from "./network.ts";
import { PRESETS } from "./presets.ts";

/**
 * What a layer computes, as data, for runtimes other than tfjs (`src/onnx/` builds
 * its graph from it): `run` and `op` describe the same function.
 */
export type LayerOp =
  /** Convolution + bias + ReLU. */
  | { type: "conv"; layer: ConvLayer }
  /** Caffe's ceil-mode pool ({@linkcode PoolSpec}); `floor` crops an odd last row/column first. */
  | { type: "pool"; spec: PoolSpec; floor?: boolean }
  /** Channel concatenation of the inputs, in order. */
  | { type: "concat" }
  /** Caffe LRN across channels: x / (bias + alpha/size · Σ x²)^beta over `size` channels. */
  | { type: "lrn"; size: number; alpha: number; beta: number; bias: number };

/** `[height, width]` of a blob. */
export type BlobSize = readonly [number, number];

/** One layer: its output blob's name, the blobs it reads, and what it computes. */
export interface GraphLayer {
  name: string;
  inputs: readonly string[];
  run(inputs: tf.Tensor4D[]): tf.Tensor4D;
  /** The same computation as data, where the layer is one of the {@linkcode LayerOp} kinds. */
  op?: LayerOp;
  /**
   * The output's `[height, width]` for inputs of these sizes, without running
   * anything; a side of 0 or less means the layer cannot run at that size.
   * Absent: the first input's size (element-wise layers).
   */
  size?(inputs: BlobSize[]): BlobSize;
}

/** The input blob's name. */
export const INPUT = "data";

/** Names of all layers, in forward order. */
export function layerNames(graph: readonly GraphLayer[]): string[] {
  return graph.map((layer) => layer.name);
}

/**
 * Runs `graph` on `x` as far as the deepest of `wanted` and returns those blobs.
 * Throws naming the layer when one is unknown.
 */
export function runGraph(
  graph: readonly GraphLayer[],
  x: tf.Tensor4D,
  wanted: readonly string[],
): Record<string, tf.Tensor4D> {
  const index = new Map(graph.map((layer, i) => [layer.name, i]));
  let last = -1;
  for (const name of wanted) {
    const i = index.get(name);
    if (i === undefined) {
      throw new Error(
        `unknown layer "${name}"; layers are: ${layerNames(graph).join(", ")}`,
      );
    }
    last = Math.max(last, i);
  }
  return tf.tidy(() => {
    const blobs = new Map<string, tf.Tensor4D>([[INPUT, x]]);
    for (let i = 0; i <= last; i++) {
      const layer = graph[i];
      blobs.set(layer.name, layer.run(layer.inputs.map((name) => blobs.get(name)!)));
    }
    const out: Record<string, tf.Tensor4D> = {};
    for (const name of wanted) out[name] = blobs.get(name)!;
    return out;
  });
}

/**
 * The `[height, width]` of each of `wanted` for an input of `input`, walking the
 * graph's sizes only (no tensor is made). A side below 1 means that blob cannot
 * be computed at this input size.
 */
export function blobSizes(
  graph: readonly GraphLayer[],
  input: BlobSize,
  wanted: readonly string[],
): Record<string, BlobSize> {
  const sizes = new Map<string, BlobSize>([[INPUT, input]]);
  const left = new Set(wanted);
  for (const layer of graph) {
    if (left.size === 0) break;
    const inputs = layer.inputs.map((name) => sizes.get(name)!);
    const size = layer.size ? layer.size(inputs) : inputs[0];
    // Once a side is gone, everything after it is gone too.
    sizes.set(layer.name, inputs.some(([h, w]) => h < 1 || w < 1) ? [0, 0] : size);
    left.delete(layer.name);
  }
  const out: Record<string, BlobSize> = {};
  for (const name of wanted) {
    const size = sizes.get(name);
    if (!size) {
      throw new Error(`unknown layer "${name}"; layers are: ${layerNames(graph).join(", ")}`);
    }
    out[name] = size;
  }
  return out;
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
