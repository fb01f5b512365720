/**
 * @module Caffe conventions shared by the networks.
 *
 * BGR mean-subtracted input on the 0..255 scale; convolutions with an in-place
 * ReLU; ceil-mode pooling; LRN across channels; SqueezeNet's fire module and
 * GoogLeNet's inception module, each producing blobs named as in Caffe.
 */
import * as tf from "@tensorflow/tfjs";
import { type ConvLayer, convRelu, type PadMode } from "../ops/conv.ts";
import { caffePool, caffePooledSize, type PoolSpec } from "../ops/pool.ts";
import type { GraphLayer } from "./graph.ts";

/**
 * Pooling used for the downsampling pools: the trained `max`, Gatys's `avg`, or
 * `blur`, an average weighted [1,2,1] that covers every input equally (see `PoolSpec`).
 */
export type Pooling = "max" | "avg" | "blur";

export type { PadMode } from "../ops/conv.ts";

/** How a network is built from its weights. */
export interface NetworkOptions {
  /** Downsampling pools; default `max`, as trained. */
  pooling?: Pooling;
  /** Convolution padding; default `zero`, as trained. */
  padding?: PadMode;
  /** Class labels, line i = class i. */
  labels?: readonly string[];
  /** The tensors are shared with another instance: `dispose()` leaves them alone. */
  sharedTensors?: boolean;
}

/** Per-channel means (B, G, R) of both Caffe nets' training. */
export const CAFFE_MEAN_BGR: readonly [number, number, number] = [104, 117, 123];

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

/** Looks up a layer's canonical weights, naming the layer when one is absent. */
export class LayerWeights {
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
  w: LayerWeights,
  name: string,
  input: string,
  { stride = 1, pad = 0 } = {},
): GraphLayer {
  const layer = w.conv(name, stride, pad);
  const [kh, kw] = layer.filter.shape;
  // Reflect or zero, the padding is `pad` wide (see `reflects`): the size is the same.
  const side = (n: number, k: number) => convOutputSide(n, k, stride, pad);
  return {
    name,
    inputs: [input],
    run: ([x]) => convRelu(x, layer),
    op: { type: "conv", layer },
    size: ([[h, w]]) => [side(h, kh), side(w, kw)],
  };
}

/** A convolution's output side: floor((n + 2p - k) / s) + 1 (0 when the kernel does not fit). */
export function convOutputSide(n: number, kernel: number, stride: number, pad: number): number {
  const span = n + 2 * pad - kernel;
  return span < 0 ? 0 : Math.floor(span / stride) + 1;
}

/** Ceil-mode pooling. */
export function pool(name: string, input: string, spec: PoolSpec): GraphLayer {
  return {
    name,
    inputs: [input],
    run: ([x]) => caffePool(x, spec),
    op: { type: "pool", spec },
    size: ([[h, w]]) => [caffePooledSize(h, spec), caffePooledSize(w, spec)],
  };
}

/** A downsampling `kernel`x`kernel` stride-2 pool, max or average as chosen. */
export function downsample(name: string, input: string, pooling: Pooling, kernel = 3): GraphLayer {
  return pool(name, input, { kernel, stride: 2, pad: 0, kind: pooling });
}

/** Channel concatenation, inputs in the order given. */
export function concat(name: string, inputs: string[]): GraphLayer {
  return {
    name,
    inputs,
    run: (xs) => tf.concat(xs, 3),
    op: { type: "concat" },
    // Branches of different sizes cannot be concatenated: the concat then cannot run.
    size: (sizes) =>
      sizes.every(([h, w]) => h === sizes[0][0] && w === sizes[0][1]) ? sizes[0] : [0, 0],
  };
}

/**
 * Caffe LRN across 5 channels, alpha 1e-4, beta 0.75, k 1:
 * x / (1 + alpha/5 · Σ x²)^0.75 (tfjs does not divide alpha by the window).
 */
export function lrn(name: string, input: string): GraphLayer {
  return {
    name,
    inputs: [input],
    run: ([x]) => tf.localResponseNormalization(x, 2, 1, 1e-4 / 5, 0.75),
    op: { type: "lrn", size: 5, alpha: 1e-4, beta: 0.75, bias: 1 },
  };
}

/**
 * SqueezeNet's fire module: squeeze 1x1, then expand 1x1 and expand 3x3 side
 * by side, concatenated expand1x1 first.
 */
export function fire(w: LayerWeights, module: string, input: string): GraphLayer[] {
  const b = (blob: string) => `${module}/${blob}`;
  return [
    conv(w, b("squeeze1x1"), input),
    conv(w, b("expand1x1"), b("squeeze1x1")),
    conv(w, b("expand3x3"), b("squeeze1x1"), { pad: 1 }),
    concat(b("concat"), [b("expand1x1"), b("expand3x3")]),
  ];
}

/**
 * GoogLeNet's inception module: four branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5;
 * 3x3 max pool -> 1x1) concatenated in that order as `<module>/output`.
 */
export function inception(w: LayerWeights, module: string, input: string): GraphLayer[] {
  const b = (blob: string) => `${module}/${blob}`;
  return [
    conv(w, b("1x1"), input),
    conv(w, b("3x3_reduce"), input),
    conv(w, b("3x3"), b("3x3_reduce"), { pad: 1 }),
    conv(w, b("5x5_reduce"), input),
    conv(w, b("5x5"), b("5x5_reduce"), { pad: 2 }),
    pool(b("pool"), input, { kernel: 3, stride: 1, pad: 1, kind: "max" }),
    conv(w, b("pool_proj"), b("pool")),
    concat(b("output"), [b("1x1"), b("3x3"), b("5x5"), b("pool_proj")]),
  ];
}
