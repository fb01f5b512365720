/**
 * @module Convolution as the networks use it: frozen filter, bias, ReLU.
 *
 * Every network calls convolutions through here, so a faster backward pass
 * (the gradient with respect to the image only) is swapped in at one place.
 */
import * as tf from "@tensorflow/tfjs";

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
  return tf.tidy(() => {
    const p = layer.pad;
    const y = tf.conv2d(x, layer.filter, layer.stride, [[0, 0], [p, p], [p, p], [0, 0]]);
    return tf.relu(tf.add(y, layer.bias));
  });
}
