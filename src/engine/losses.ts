/**
 * @module The three losses of Gatys et al.: content, style and total variation.
 *
 * Each is a pure function over tensors. Features are the network's post-ReLU
 * activations, keyed by layer name; weights are per layer.
 */
import * as tf from "@tensorflow/tfjs";
import { gram } from "../ops/gram.ts";
import type { LayerWeights } from "../net/network.ts";

/** The loss set-up after options are laid over the network's preset. */
export interface LossSetup {
  contentLayers: LayerWeights;
  styleLayers: LayerWeights;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  /** Divide each layer's loss by its target's mean square (see `Preset.normalize`). */
  normalize: boolean;
}

/** Layer name -> activation `[1, h, w, c]`. */
export type Features = Record<string, tf.Tensor4D>;
/** Layer name -> Gram matrix `[c, c]`. */
export type Grams = Record<string, tf.Tensor2D>;
/** Layer name -> constant factor applied to that layer's loss (1 / the target's mean square when normalising). */
export type LayerScales = Record<string, number>;

/** Mean squared error of two same-shaped tensors. */
export function mse(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.mean(tf.squaredDifference(a, b)));
}

/** Content loss: Σₗ wₗ · sₗ · MSE(Fₗ(generated), Fₗ(content)). */
export function contentLoss(
  generated: Features,
  target: Features,
  weights: LayerWeights,
  scales: LayerScales = {},
): tf.Scalar {
  return weightedSum(weights, scales, (layer) => mse(generated[layer], target[layer]));
}

/** Style loss: Σₗ wₗ · sₗ · MSE(Gram(Fₗ(generated)), Gₗ), the targets `Gₗ` computed once beforehand. */
export function styleLoss(
  generated: Features,
  targetGrams: Grams,
  weights: LayerWeights,
  scales: LayerScales = {},
): tf.Scalar {
  return weightedSum(weights, scales, (layer) => mse(gram(generated[layer]), targetGrams[layer]));
}

/** Σₗ wₗ · sₗ · lossₗ over the weighted layers. */
function weightedSum(
  weights: LayerWeights,
  scales: LayerScales,
  loss: (layer: string) => tf.Scalar,
): tf.Scalar {
  return tf.tidy(() =>
    tf.addN(
      Object.entries(weights).map(([layer, w]) => tf.mul(loss(layer), w * (scales[layer] ?? 1))),
    )
  );
}

/**
 * Total variation: mean squared difference of vertically and horizontally
 * neighbouring pixels. A mean, not a sum, so its weight does not depend on the image size.
 */
export function tvLoss(x: tf.Tensor4D): tf.Scalar {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const down = tf.squaredDifference(
      tf.slice(x, [0, 1, 0, 0], [-1, h - 1, -1, -1]),
      tf.slice(x, [0, 0, 0, 0], [-1, h - 1, -1, -1]),
    );
    const right = tf.squaredDifference(
      tf.slice(x, [0, 0, 1, 0], [-1, -1, w - 1, -1]),
      tf.slice(x, [0, 0, 0, 0], [-1, -1, w - 1, -1]),
    );
    return tf.add(tf.mean(down), tf.mean(right));
  });
}

/**
 * The style target: the blend Σᵢ bᵢ·Gram(Fₗ(styleᵢ)) per layer, with blend
 * weights normalised to sum to one.
 */
export function blendGrams(perStyle: readonly Features[], blend: readonly number[]): Grams {
  const total = blend.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error("style blend weights must not all be zero");
  const layers = Object.keys(perStyle[0]);
  return Object.fromEntries(layers.map((layer) => [
    layer,
    tf.tidy(() =>
      tf.addN(perStyle.map((features, i) => tf.mul(gram(features[layer]), blend[i] / total)))
    ) as tf.Tensor2D,
  ]));
}
