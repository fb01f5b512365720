/**
 * @module Where each style paints: a mask image read as 0..1 and brought to every
 * style layer's resolution at a stage's size (Gatys et al. 2017, spatial control).
 */
import * as tf from "@tensorflow/tfjs";
import type { HostMask } from "../executors/tiled.ts";
import type { RgbaImage } from "../image/image.ts";
import { resize } from "../image/tensor.ts";
import type { FeatureNetwork } from "../net/network.ts";

/** Rec. 601 luma weights. */
const LUMA = [0.299, 0.587, 0.114] as const;

/**
 * A mask image's values `[1, H, W, 1]`, 0..1: its alpha where any pixel is not opaque
 * (a layer's transparency, an exported selection), else its luminance (a grey mask).
 */
export function maskValues({ width, height, data }: RgbaImage): tf.Tensor4D {
  const values = new Float32Array(width * height);
  let transparent = false;
  for (let p = 0; p < values.length && !transparent; p++) transparent = data[4 * p + 3] < 255;
  for (let p = 0; p < values.length; p++) {
    const i = 4 * p;
    values[p] = transparent
      ? data[i + 3] / 255
      : (LUMA[0] * data[i] + LUMA[1] * data[i + 1] + LUMA[2] * data[i + 2]) / 255;
  }
  return tf.tensor4d(values, [1, height, width, 1]);
}

/**
 * `mask` (`[1, H, W, 1]`, any size) at each of `layers`' maps for an image of `[h, w]`:
 * first resized to the image, then to each map, with each map's mass Σ mask².
 */
export async function layerMasks(
  network: FeatureNetwork,
  mask: tf.Tensor4D,
  [h, w]: readonly [number, number],
  layers: readonly string[],
): Promise<Record<string, HostMask>> {
  if (!network.outputSizes) throw new Error(`${network.id} cannot take masks: no layer geometry`);
  const sizes = network.outputSizes([h, w], layers);
  const atImage = resize(mask, h, w);
  try {
    const out: Record<string, HostMask> = {};
    for (const layer of layers) {
      const [height, width] = sizes[layer];
      const map = tf.tidy(() => tf.clipByValue(resize(atImage, height, width), 0, 1));
      const data = await map.data() as Float32Array;
      map.dispose();
      const mass = data.reduce((sum, v) => sum + v * v, 0);
      out[layer] = { data, height, width, mass: Math.max(mass, 1e-6) };
    }
    return out;
  } finally {
    atImage.dispose();
  }
}
