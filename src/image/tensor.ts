/**
 * @module Moving images between {@linkcode RgbaImage} and tensors: RGB, alpha, sizes.
 *
 * The engine works on `[1, h, w, 3]` float RGB in 0..255; alpha never enters the
 * network, it is split off on the way in and re-applied on the way out.
 */
import * as tf from "@tensorflow/tfjs";
import type { RgbaImage } from "./image.ts";

import { fitToLongestSide } from "./image.ts";

export { fitToLongestSide };

/** RGB of `image` as a float `[1, h, w, 3]` tensor in 0..255; alpha is dropped. */
export function imageToTensor(image: RgbaImage): tf.Tensor4D {
  const { width, height, data } = image;
  const rgb = new Float32Array(width * height * 3);
  for (let p = 0, q = 0; p < data.length; p += 4, q += 3) {
    rgb[q] = data[p];
    rgb[q + 1] = data[p + 1];
    rgb[q + 2] = data[p + 2];
  }
  return tf.tensor4d(rgb, [1, height, width, 3]);
}

/** The alpha channel of `image`, or `null` when every pixel is opaque. */
export function alphaOf(image: RgbaImage): Uint8Array | null {
  const alpha = new Uint8Array(image.width * image.height);
  let opaque = true;
  for (let p = 0; p < alpha.length; p++) {
    alpha[p] = image.data[p * 4 + 3];
    if (alpha[p] !== 255) opaque = false;
  }
  return opaque ? null : alpha;
}

/** Bilinear resize of `[1, h, w, c]` to `[height, width]` (a copy when already that size). */
export function resize(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  if (x.shape[1] === height && x.shape[2] === width) return x.clone();
  // Shrinking by more than 2x in one bilinear step aliases; halve with area averaging first.
  return tf.tidy(() => {
    let y = x;
    while (y.shape[1] >= 2 * height && y.shape[2] >= 2 * width) {
      y = tf.avgPool(y, 2, 2, "valid");
    }
    return tf.image.resizeBilinear(y, [height, width], false, true);
  });
}

/** `image`'s RGB resized so its longest side is `maxSide`. */
export function imageToTensorFit(image: RgbaImage, maxSide: number): tf.Tensor4D {
  const [h, w] = fitToLongestSide(image.height, image.width, maxSide);
  return tf.tidy(() => resize(imageToTensor(image), h, w));
}

/**
 * Reads `[1, h, w, 3]` RGB (0..255, rounded and clamped) back into an image,
 * with `alpha` (one byte a pixel, same size) re-applied, or opaque when `null`.
 */
export async function tensorToImage(
  rgb: tf.Tensor4D,
  alpha: Uint8Array | null = null,
): Promise<RgbaImage> {
  const [, height, width] = rgb.shape;
  const values = await rgb.data();
  // A clamped view rounds and clamps to 0..255 on store.
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0, q = 0; q < values.length; p += 4, q += 3) {
    data[p] = values[q];
    data[p + 1] = values[q + 1];
    data[p + 2] = values[q + 2];
    data[p + 3] = alpha ? alpha[p >> 2] : 255;
  }
  return { width, height, data: new Uint8Array(data.buffer) };
}
