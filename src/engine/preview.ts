/**
 * @module The image a run shows its user at a preview iteration.
 *
 * The optimiser's image is preprocessed and may be smaller than the content (an
 * early stage): a preview deprocesses it, brings it to the content's size, keeps
 * the content's colours if asked and re-applies the content's alpha.
 */
import * as tf from "@tensorflow/tfjs";
import type { RgbaImage } from "../image/image.ts";
import { imageToTensor, resize, tensorToImage } from "../image/tensor.ts";
import type { FeatureNetwork } from "../net/network.ts";
import { luminanceTransfer } from "./color.ts";
import { type HostImage, toTensor } from "../executors/host_image.ts";

/** Rows per band of a preview made from host memory at the content's size. */
const PREVIEW_ROWS = 256;

/**
 * The current image as the user sees it: deprocessed, at the content's size, colours kept
 * if asked, alpha re-applied. An image in host memory at the content's size is made band by
 * band, so a full-resolution preview never puts a whole image on the device.
 */
export async function preview(
  network: FeatureNetwork,
  x: tf.Tensor4D | HostImage,
  content: RgbaImage,
  colorMode: "luminance" | "match" | null,
  alpha: Uint8Array | null,
  bandRows = PREVIEW_ROWS,
): Promise<RgbaImage> {
  const { width, height } = content;
  if (x instanceof tf.Tensor) return await previewPart(network, x, content, colorMode, alpha);
  if (x.height !== height || x.width !== width) {
    const whole = toTensor(x);
    try {
      return await previewPart(network, whole, content, colorMode, alpha);
    } finally {
      whole.dispose();
    }
  }
  const data = new Uint8Array(width * height * 4);
  for (let top = 0; top < height; top += bandRows) {
    const rows = Math.min(bandRows, height - top);
    const band = tf.tensor4d(x.data.subarray(top * width * 3, (top + rows) * width * 3), [
      1,
      rows,
      width,
      3,
    ]);
    try {
      const part = await previewPart(
        network,
        band,
        {
          width,
          height: rows,
          data: content.data.subarray(top * width * 4, (top + rows) * width * 4),
        },
        colorMode,
        alpha?.subarray(top * width, (top + rows) * width) ?? null,
      );
      data.set(part.data, top * width * 4);
    } finally {
      band.dispose();
    }
  }
  return { width, height, data };
}

/** `x` (preprocessed) as the user sees it at `content`'s size; `x` stays the caller's. */
async function previewPart(
  network: FeatureNetwork,
  x: tf.Tensor4D,
  content: RgbaImage,
  colorMode: "luminance" | "match" | null,
  alpha: Uint8Array | null,
): Promise<RgbaImage> {
  const rgb = tf.tidy(() => {
    const result = resize(network.deprocess(x), content.height, content.width);
    return colorMode === "luminance" ? luminanceTransfer(result, imageToTensor(content)) : result;
  });
  try {
    return await tensorToImage(rgb, alpha);
  } finally {
    rgb.dispose();
  }
}
