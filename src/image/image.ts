/**
 * @module The image type that crosses every boundary: codec, engine, server.
 */

/** 8-bit RGBA pixels, row-major, 4 bytes a pixel, no padding. */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8Array;
}
