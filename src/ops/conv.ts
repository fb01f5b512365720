/**
 * @module Convolution as the networks use it: frozen filter, bias, ReLU.
 *
 * Every network calls convolutions through here, so a faster backward pass
 * (the gradient with respect to the image only) is swapped in at one place.
 *
 * Why: tfjs differentiates a convolution with `Conv2DBackpropInput`, a naive
 * loop on `wasm` that took ~80 % of an evaluation. The input-gradient of a
 * convolution is itself a convolution — of the (dilated, padded) output
 * gradient with the kernel flipped in both spatial axes and its in/out
 * channels swapped — so it runs on the same fast forward kernel (XNNPACK).
 */
import * as tf from "@tensorflow/tfjs";
import { fastBackward } from "./fast_backward.ts";
import { backwardKernel } from "./_flipped.ts";

/** A frozen convolution layer: filter `[kh, kw, in, out]` and bias `[out]`. */
export interface ConvLayer {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  stride: number;
  /** Symmetric zero padding on each spatial side. */
  pad: number;
}

/** `relu(conv(x, filter) + bias)`, Caffe's Convolution + in-place ReLU. */
export function convRelu(x: tf.Tensor4D, layer: ConvLayer): tf.Tensor4D {
  // On WebGPU the custom gradient gains nothing (forward Conv2D dominates there) and,
  // under a gradient tape, read back zeros on the software adapter: use tfjs's own.
  const fast = fastBackward() && tf.getBackend() !== "webgpu";
  return fast ? fastConvRelu(x, layer) : defaultConvRelu(x, layer);
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
 * so `dx[i] = Σ dz[o]·w[t]` over `o·s - p + t = i`, which is a stride-1 correlation
 * of `dz` (with s-1 zeros between its samples) with the flipped kernel, padded by
 * `k-1-p` in front and by whatever makes the result as large as `x` behind.
 */
export function convInputGradient(
  dz: tf.Tensor4D,
  layer: ConvLayer,
  inputShape: readonly number[],
): tf.Tensor4D {
  return tf.tidy(() => {
    const [kh, kw] = layer.filter.shape;
    const s = layer.stride;
    const p = layer.pad;
    const [, h, w] = inputShape;
    const [, oh, ow] = dz.shape;
    const spread = s > 1 ? dilate(dz, s) : dz;
    const top = kh - 1 - p;
    const left = kw - 1 - p;
    const bottom = h + p - 1 - (oh - 1) * s;
    const right = w + p - 1 - (ow - 1) * s;
    if (top < 0 || left < 0 || bottom < 0 || right < 0) {
      throw new Error(`convInputGradient: padding ${p} exceeds kernel ${kh}x${kw} - 1`);
    }
    return tf.conv2d(spread, backwardKernel(layer.filter), 1, [[0, 0], [top, bottom], [
      left,
      right,
    ], [0, 0]]);
  });
}

/** Inserts `s - 1` zeros between neighbouring samples along height and width. */
function dilate(dz: tf.Tensor4D, s: number): tf.Tensor4D {
  const [n, h, w, c] = dz.shape;
  const spaced = tf.pad(tf.reshape(dz, [n, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, s - 1],
    [0, 0],
    [0, s - 1],
    [0, 0],
  ]);
  const full = tf.reshape(spaced, [n, h * s, w * s, c]) as tf.Tensor4D;
  return tf.slice(full, [0, 0, 0, 0], [n, (h - 1) * s + 1, (w - 1) * s + 1, c]);
}
