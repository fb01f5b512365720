/**
 * @module Convolution as the networks use it: frozen filter, bias, ReLU.
 *
 * Every network calls convolutions through here, so a faster backward pass
 * (the gradient with respect to the image only) is swapped in at one place.
 *
 * Why: tfjs differentiates a convolution with `Conv2DBackpropInput`, a naive
 * loop on `wasm` that took ~80 % of an evaluation. The input-gradient of a
 * convolution is itself a convolution — of the padded output gradient with
 * the kernel flipped in both spatial axes and its in/out channels swapped
 * (split into phases at stride > 1) — so it runs on the same fast forward
 * kernel (XNNPACK).
 */
import * as tf from "@tensorflow/tfjs";
import { fastBackward } from "./fast_backward.ts";
import { backwardKernel, phaseGeometry, polyphaseKernel } from "./_flipped.ts";
import { reflectPad } from "./pad.ts";

/** A frozen convolution layer: filter `[kh, kw, in, out]` and bias `[out]`. */
export interface ConvLayer {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  stride: number;
  /** Symmetric padding on each spatial side. */
  pad: number;
  /** What the padding holds: zeros (as trained, the default) or the image's reflection. */
  padMode?: PadMode;
}

/** Padding of a convolution: `zero` as the networks were trained, or `reflect`. */
export type PadMode = "zero" | "reflect";

/**
 * Whether `layer` pads an `h`x`w` input with its reflection: reflect padding needs
 * more than `pad` pixels to mirror, so a map that small (deep in the network, for a
 * tiny image) is zero-padded instead, and no image is too small for reflect padding
 * that would not be for zero padding.
 */
export function reflects(layer: ConvLayer, h: number, w: number): boolean {
  return layer.padMode === "reflect" && layer.pad > 0 && layer.pad < h && layer.pad < w;
}

/** `relu(conv(x, filter) + bias)`, Caffe's Convolution + in-place ReLU. */
export function convRelu(x: tf.Tensor4D, layer: ConvLayer): tf.Tensor4D {
  if (reflects(layer, x.shape[1], x.shape[2])) {
    return tf.tidy(() => convRelu(reflectPad(x, layer.pad), { ...layer, pad: 0, padMode: "zero" }));
  }
  return fastBackward() ? fastConvRelu(x, layer) : defaultConvRelu(x, layer);
}

function padding(p: number): [[0, 0], [number, number], [number, number], [0, 0]] {
  return [[0, 0], [p, p], [p, p], [0, 0]];
}

function defaultConvRelu(x: tf.Tensor4D, layer: ConvLayer): tf.Tensor4D {
  return tf.tidy(() => {
    const y = tf.conv2d(x, layer.filter, layer.stride, padding(layer.pad));
    return tf.relu(tf.add(y, layer.bias));
  });
}

function fastConvRelu(x: tf.Tensor4D, layer: ConvLayer): tf.Tensor4D {
  const op = tf.customGrad((input, save) => {
    const y = tf.fused.conv2d({
      x: input as tf.Tensor4D,
      filter: layer.filter,
      strides: layer.stride,
      pad: padding(layer.pad),
      bias: layer.bias,
      activation: "relu",
    });
    (save as tf.GradSaveFunc)([y]);
    return {
      value: y,
      // ReLU passes the gradient where it was active; the bias has no effect on it.
      gradFunc: (dy, [out]) =>
        convInputGradient(
          tf.mul(dy, tf.step(out)) as tf.Tensor4D,
          layer,
          (input as tf.Tensor4D).shape,
        ),
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * The gradient of `conv2d(x, layer.filter, layer.stride, layer.pad)` with respect
 * to `x`, given the gradient `dz` of its output, computed with a forward convolution.
 *
 * A stride-s convolution reads input pixel `o·s - p + t` for output `o` and tap `t`;
 * so `dx[i] = Σ dz[o]·w[t]` over `o·s - p + t = i`. At stride 1 that is a correlation
 * of `dz` with the flipped kernel, padded by `k-1-p` in front and by whatever makes
 * the result as large as `x` behind.
 *
 * At stride s, input pixels of one phase `(i mod s, j mod s)` receive only the taps
 * congruent to it, so each phase is a stride-1 correlation of the undilated `dz` with
 * a sub-kernel (`phaseGeometry`); all s² phases run as one convolution whose output
 * channels `tf.depthToSpace` interleaves back into the input's pixel grid. (Correlating
 * the zero-dilated `dz` with the whole kernel gives the same result with s² times the
 * work, since all but one in s² of its samples are zeros.)
 */
export function convInputGradient(
  dz: tf.Tensor4D,
  layer: ConvLayer,
  inputShape: readonly number[],
): tf.Tensor4D {
  const [kh, kw] = layer.filter.shape;
  const p = layer.pad;
  if (p > kh - 1 || p > kw - 1) {
    throw new Error(`convInputGradient: padding ${p} exceeds kernel ${kh}x${kw} - 1`);
  }
  return layer.stride === 1
    ? unitStrideInputGradient(dz, layer, inputShape)
    : polyphaseInputGradient(dz, layer, inputShape);
}

function unitStrideInputGradient(
  dz: tf.Tensor4D,
  layer: ConvLayer,
  inputShape: readonly number[],
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = layer.filter.shape;
    const p = layer.pad;
    const [, h, w] = inputShape;
    const [, oh, ow] = dz.shape;
    const [top, left] = [kh - 1 - p, kw - 1 - p];
    const [bottom, right] = [h + p - oh, w + p - ow];
    return tf.conv2d(dz, backwardKernel(layer.filter), 1, [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ]);
  });
}

function polyphaseInputGradient(
  dz: tf.Tensor4D,
  layer: ConvLayer,
  inputShape: readonly number[],
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = layer.filter.shape;
    const { stride: s, pad: p } = layer;
    const [n, h, w, c] = inputShape;
    const [rows, cols] = [phaseGeometry(kh, s, p), phaseGeometry(kw, s, p)];
    // Phase pixel a (input row a·s + r) reads dz rows a + start .. a + start + size - 1.
    const [a, b] = [Math.ceil(h / s), Math.ceil(w / s)];
    const window = span(dz, [rows.start, a - 1 + rows.start + rows.size - 1], [
      cols.start,
      b - 1 + cols.start + cols.size - 1,
    ]);
    const phases = tf.conv2d(window.dz, polyphaseKernel(layer.filter, s, p), 1, window.pad);
    const interleaved = tf.depthToSpace(phases, s);
    return a * s === h && b * s === w
      ? interleaved
      : tf.slice(interleaved, [0, 0, 0, 0], [n, h, w, c]);
  });
}

/**
 * The rows `first .. last` and columns `first .. last` of `dz` (inclusive, may lie
 * outside it), as the part of `dz` inside them and the zero padding that completes them.
 */
function span(
  dz: tf.Tensor4D,
  [top, bottom]: [number, number],
  [left, right]: [number, number],
): { dz: tf.Tensor4D; pad: [[0, 0], [number, number], [number, number], [0, 0]] } {
  const [n, oh, ow, c] = dz.shape;
  const [r0, r1] = [Math.max(0, top), Math.min(oh - 1, bottom)];
  const [c0, c1] = [Math.max(0, left), Math.min(ow - 1, right)];
  const inside = r0 === 0 && c0 === 0 && r1 === oh - 1 && c1 === ow - 1
    ? dz
    : tf.slice(dz, [0, r0, c0, 0], [n, r1 - r0 + 1, c1 - c0 + 1, c]);
  return {
    dz: inside,
    pad: [[0, 0], [r0 - top, bottom - r1], [c0 - left, right - c1], [0, 0]],
  };
}
