/**
 * @module The image type that crosses every boundary: codec, engine, server.
 */

/** 8-bit RGBA pixels, row-major, 4 bytes a pixel, no padding. */
export interface RgbaImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** `width * height * 4` bytes: R, G, B, A of each pixel, 0..255, top row first. */
  data: Uint8Array;
}

/** `[height, width]` scaled so the longest side is `maxSide` (never upscaled when `allowUpscale` is false). */
export function fitToLongestSide(
  height: number,
  width: number,
  maxSide: number,
  allowUpscale = true,
): [number, number] {
  const scale = maxSide / Math.max(height, width);
  if (scale >= 1 && !allowUpscale) return [height, width];
  return [Math.max(1, Math.round(height * scale)), Math.max(1, Math.round(width * scale))];
}
