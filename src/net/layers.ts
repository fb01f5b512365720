/**
 * @module Building blocks of a layer graph, by name: a network's weight tensors
 * looked up per layer, convolution + ReLU, ceil-mode pooling and channel
 * concatenation. The Caffe networks and VGG16 are made of them.
 */
import type * as tf from "@tensorflow/tfjs";
import type { ConvLayer, PadMode } from "../ops/conv.ts";
import type { PoolSpec } from "../ops/layer_op.ts";
import { type ClassifierHead, type GraphLayer, GraphNetwork } from "./graph.ts";
import type { NetworkId, NetworkOptions, Pooling } from "./network.ts";

/** Looks up a layer's canonical weights, naming the layer when one is absent. */
export class WeightTensors {
  constructor(
    readonly network: string,
    readonly tensors: tf.NamedTensorMap,
    readonly padding: PadMode = "zero",
  ) {}

  /** Kernel (HWIO for convolutions) and bias of `layer`. */
  get(layer: string): { kernel: tf.Tensor; bias: tf.Tensor1D } {
    const kernel = this.tensors[`${layer}/kernel`];
    const bias = this.tensors[`${layer}/bias`];
    if (!kernel || !bias) {
      throw new Error(`${this.network} weights lack layer "${layer}" (kernel and bias)`);
    }
    return { kernel, bias: bias as tf.Tensor1D };
  }

  /** A convolution layer with the given geometry. */
  conv(layer: string, stride: number, pad: number): ConvLayer {
    const { kernel, bias } = this.get(layer);
    if (kernel.rank !== 4) {
      throw new Error(`${this.network} layer "${layer}": kernel has rank ${kernel.rank}, not 4`);
    }
    return { filter: kernel as tf.Tensor4D, bias, stride, pad, padMode: this.padding };
  }
}

/** Convolution + ReLU: the Caffe blob `name` (post-ReLU). */
export function conv(
  w: WeightTensors,
  name: string,
  input: string,
  { stride = 1, pad = 0 } = {},
): GraphLayer {
  return { name, inputs: [input], op: { type: "conv", layer: w.conv(name, stride, pad) } };
}

/** Ceil-mode pooling. */
export function pool(name: string, input: string, spec: PoolSpec): GraphLayer {
  return { name, inputs: [input], op: { type: "pool", spec } };
}

/** A downsampling `kernel`x`kernel` stride-2 pool, max or average as chosen. */
export function downsample(name: string, input: string, pooling: Pooling, kernel = 3): GraphLayer {
  return pool(name, input, { kernel, stride: 2, pad: 0, kind: pooling });
}

/** Channel concatenation, inputs in the order given. */
export function concat(name: string, inputs: string[]): GraphLayer {
  return { name, inputs, op: { type: "concat" } };
}

/** What makes one network from its weights: its layer graph, input means and classifier. */
export interface NetworkRecipe {
  id: NetworkId;
  /** The layer graph over the weights, downsampling with `pooling`. */
  graph(w: WeightTensors, pooling: Pooling): GraphLayer[];
  /** Preprocessing means, B G R. */
  meanBgr: readonly [number, number, number];
  /** The classifier on top, for networks that keep theirs. */
  head?(w: WeightTensors): ClassifierHead;
}

/**
 * The network `recipe` describes, over canonical weights `tensors` (`<layer>/kernel`,
 * `<layer>/bias`); it owns them and frees them on `dispose()` unless `sharedTensors`.
 */
export function networkFromWeights(
  recipe: NetworkRecipe,
  tensors: tf.NamedTensorMap,
  { pooling = "max", padding = "zero", labels, sharedTensors }: NetworkOptions = {},
): GraphNetwork {
  const w = new WeightTensors(recipe.id, tensors, padding);
  return new GraphNetwork({
    id: recipe.id,
    graph: recipe.graph(w, pooling),
    meanBgr: recipe.meanBgr,
    pooling,
    tensors,
    labels,
    sharedTensors,
    head: recipe.head?.(w),
  });
}
