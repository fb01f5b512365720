/**
 * @module Images and image-sized vectors in host memory: tiles cut out, gradients summed in.
 *
 * A full-resolution stage keeps its image-sized vectors (the image, its
 * gradient, the optimiser's state) in `Float32Array`s outside the device's
 * heap, which then holds only one tile's pass. The layout is a `[1, h, w, 3]`
 * tensor's data: rows of pixels, RGB interleaved.
 */
import * as tf from "@tensorflow/tfjs";
import type { Tile } from "./tiles.ts";

/** An image (or an image-sized vector) in host memory: `height` rows of `width` RGB pixels. */
export interface HostImage {
  data: Float32Array;
  height: number;
  width: number;
}

/**
 * `t`'s data read back into host memory (a copy: `t` stays the caller's). Read
 * asynchronously: WebGPU has no synchronous read-back in Deno.
 */
export async function toHost(t: tf.Tensor4D): Promise<HostImage> {
  const [, height, width] = t.shape;
  return { data: await t.data() as Float32Array, height, width };
}

/** A `[1, h, w, 3]` tensor of `image` (a copy on the device). */
export function toTensor({ data, height, width }: HostImage): tf.Tensor4D {
  return tf.tensor4d(data, [1, height, width, 3]);
}

/** The tile's crop (halo included) of `image`, as a tensor. */
export function cropTile({ data, width }: HostImage, tile: Tile): tf.Tensor4D {
  const rows = tile.cropBottom - tile.cropTop;
  const rowLength = (tile.cropRight - tile.cropLeft) * 3;
  const crop = new Float32Array(rows * rowLength);
  for (let r = 0; r < rows; r++) {
    const from = ((tile.cropTop + r) * width + tile.cropLeft) * 3;
    crop.set(data.subarray(from, from + rowLength), r * rowLength);
  }
  return tf.tensor4d(crop, [1, rows, rowLength / 3, 3]);
}

/** Adds a crop's gradient (the tile's crop, row-major RGB) into the whole image's `into`. */
export function addCrop(into: HostImage, tile: Tile, part: Float32Array): void {
  const rowLength = (tile.cropRight - tile.cropLeft) * 3;
  for (let r = 0; r < tile.cropBottom - tile.cropTop; r++) {
    const to = ((tile.cropTop + r) * into.width + tile.cropLeft) * 3;
    const from = r * rowLength;
    for (let i = 0; i < rowLength; i++) into.data[to + i] += part[from + i];
  }
}
