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
