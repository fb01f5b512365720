/**
 * @module The quality judges of the gallery (issue 8), independent of the loss.
 *
 * - {@linkcode styleRatio}: how close an output's texture is to the painting's,
 *   as seen by a network that was **not** in the loss. Per judge layer, the Gram
 *   matrix normalised by C·H·W; distance = mean over layers of
 *   ‖G(out) − G(style)‖_F / ‖G(style)‖_F; ratio r = distance(output) /
 *   distance(unstyled photo). Lower is more style; 1 means no closer to the
 *   painting than the photo was. Every image is judged at 512 px (longest side).
 * - {@linkcode edgeScore}: how much of the photo's structure survives: Pearson
 *   correlation of the Sobel gradient magnitudes of the luminance, output vs
 *   photo, at 256 px.
 *
 * The judge layers span each network from its stem to its middle, fixed before
 * any result was judged: they are not tuned to the outputs.
 */
import * as tf from "@tensorflow/tfjs";
import type { RgbaImage } from "../../src/image/image.ts";
import { imageToTensorFit } from "../../src/image/tensor.ts";
import type { FeatureNetwork, NetworkId } from "../../src/net/network.ts";
import { gram } from "../../src/ops/gram.ts";

/** The layers each network judges with: every block from the stem to the middle. */
export const JUDGE_LAYERS: Record<Exclude<NetworkId, "vgg16">, readonly string[]> = {
  squeezenet: [
    "conv1",
    "fire2/concat",
    "fire3/concat",
    "fire4/concat",
    "fire5/concat",
    "fire6/concat",
    "fire7/concat",
    "fire8/concat",
    "fire9/concat",
  ],
  googlenet: [
    "conv1/7x7_s2",
    "conv2/3x3",
    "inception_3a/output",
    "inception_3b/output",
    "inception_4a/output",
    "inception_4b/output",
    "inception_4c/output",
    "inception_4d/output",
    "inception_4e/output",
  ],
};

/** Side (longest) every image is judged at. */
export const JUDGE_SIZE = 512;
/** Side (longest) the edge-structure score compares at. */
export const EDGE_SIZE = 256;

/** Per-layer Gram matrices of `image` at {@linkcode JUDGE_SIZE}, as plain arrays. */
export async function judgeGrams(
  judge: FeatureNetwork,
  image: RgbaImage,
): Promise<Float32Array[]> {
  const layers = JUDGE_LAYERS[judge.id as keyof typeof JUDGE_LAYERS];
  const grams = tf.tidy(() => {
    const x = judge.preprocess(imageToTensorFit(image, JUDGE_SIZE));
    const features = judge.features(x, layers);
    return layers.map((layer) => gram(features[layer]));
  });
  const arrays = await Promise.all(grams.map((g) => g.data() as Promise<Float32Array>));
  tf.dispose(grams);
  return arrays;
}

/** Mean over layers of ‖a − b‖_F / ‖b‖_F. */
export function gramDistance(a: readonly Float32Array[], b: readonly Float32Array[]): number {
  let sum = 0;
  for (let l = 0; l < b.length; l++) {
    let diff = 0, norm = 0;
    for (let i = 0; i < b[l].length; i++) {
      diff += (a[l][i] - b[l][i]) ** 2;
      norm += b[l][i] ** 2;
    }
    sum += Math.sqrt(diff / norm);
  }
  return sum / b.length;
}

/** Judge ratio r = distance(output, style) / distance(photo, style), from precomputed Grams. */
export function styleRatio(
  output: readonly Float32Array[],
  photo: readonly Float32Array[],
  style: readonly Float32Array[],
): number {
  return gramDistance(output, style) / gramDistance(photo, style);
}

/** Luminance (Rec. 601) at `size` (longest side) as `[h, w]` values 0..255. */
function luminance(image: RgbaImage, size: number): tf.Tensor2D {
  return tf.tidy(() => {
    const rgb = imageToTensorFit(image, size);
    const y = tf.sum(tf.mul(rgb, tf.tensor1d([0.299, 0.587, 0.114])), 3);
    return tf.squeeze(y, [0]) as tf.Tensor2D;
  });
}

/** Sobel gradient magnitude of a `[h, w]` image, valid region only. */
function sobelMagnitude(y: tf.Tensor2D): tf.Tensor {
  return tf.tidy(() => {
    const x = tf.expandDims(tf.expandDims(y, 0), 3) as tf.Tensor4D;
    const gx = tf.tensor4d([-1, 0, 1, -2, 0, 2, -1, 0, 1], [3, 3, 1, 1]);
    const gy = tf.tensor4d([-1, -2, -1, 0, 0, 0, 1, 2, 1], [3, 3, 1, 1]);
    const dx = tf.conv2d(x, gx, 1, "valid");
    const dy = tf.conv2d(x, gy, 1, "valid");
    return tf.sqrt(tf.add(tf.square(dx), tf.square(dy)));
  });
}

/** Pearson correlation of the Sobel magnitudes of the luminance, output vs photo, at {@linkcode EDGE_SIZE}. */
export async function edgeScore(output: RgbaImage, photo: RgbaImage): Promise<number> {
  const r = tf.tidy(() => {
    const a = tf.reshape(sobelMagnitude(luminance(output, EDGE_SIZE)), [-1]);
    const b = tf.reshape(sobelMagnitude(luminance(photo, EDGE_SIZE)), [-1]);
    const da = tf.sub(a, tf.mean(a));
    const db = tf.sub(b, tf.mean(b));
    return tf.div(
      tf.sum(tf.mul(da, db)),
      tf.sqrt(tf.mul(tf.sum(tf.square(da)), tf.sum(tf.square(db)))),
    );
  });
  const value = (await r.data())[0];
  r.dispose();
  return value;
}
