/**
 * @module The Gram matrix of a layer's activations.
 *
 * With the fast backward pass on, both the Gram matrix and its gradient are
 * plain (untransposed) matrix products: the wasm backend's `BatchMatMul` with a
 * transposed operand runs at a fraction of the speed of an explicit transpose.
 */
import * as tf from "@tensorflow/tfjs";
import { fastBackward } from "./fast_backward.ts";

/** G = FᵀF / (H·W·C), with F the activations reshaped to `[H·W, C]`. */
export function gram(features: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const [, h, w, c] = features.shape;
    const f = tf.reshape(features, [h * w, c]) as tf.Tensor2D;
    return fastBackward()
      ? fastGram(f, h * w * c)
      : tf.div(tf.matMul(f, f, true, false), h * w * c);
  });
}

// dL/dF = F (dG + dGᵀ) / k, since G = FᵀF / k.
function fastGram(f: tf.Tensor2D, k: number): tf.Tensor2D {
  const op = tf.customGrad((m, save) => {
    const mat = m as tf.Tensor2D;
    (save as tf.GradSaveFunc)([mat]);
    return {
      value: tf.div(tf.matMul(tf.transpose(mat), mat), k),
      gradFunc: (dg, [saved]) =>
        tf.div(tf.matMul(saved as tf.Tensor2D, tf.add(dg, tf.transpose(dg)) as tf.Tensor2D), k),
    };
  });
  return op(f) as tf.Tensor2D;
}
