/**
 * @module The Gram matrix of a layer's activations.
 */
import * as tf from "@tensorflow/tfjs";

/** G = FᵀF / (H·W·C), with F the activations reshaped to `[H·W, C]`. */
export function gram(features: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const [, h, w, c] = features.shape;
    const f = tf.reshape(features, [h * w, c]) as tf.Tensor2D;
    return tf.div(tf.matMul(f, f, true, false), h * w * c) as tf.Tensor2D;
  });
}
