/**
 * @module EXIF orientation: turning stored pixels the way the camera meant them shown.
 *
 * Phones store a portrait photo as landscape pixels plus an Orientation tag;
 * every viewer turns it on display, so Restyle must too, or a rotated photo
 * comes back sideways.
 */
import type { RgbaImage } from "./image.ts";

/**
 * `image` as EXIF orientation `orientation` (1..8) says to show it: 2 mirrored,
 * 3 turned 180°, 4 flipped, 5 transposed, 6 turned 90° clockwise, 7
 * transversed, 8 turned 90° counter-clockwise. 1 (or anything else) returns
 * `image` itself.
 *
 * @example
 * ```ts
 * const upright = applyOrientation(decoded, 6); // a phone's portrait photo
 * ```
 */
export function applyOrientation(image: RgbaImage, orientation: number): RgbaImage {
  if (!(orientation >= 2 && orientation <= 8)) return image;
  const { width: w, height: h, data } = image;
  const turned = orientation >= 5;
  const [width, height] = turned ? [h, w] : [w, h];
  // Where output pixel (X, Y) comes from in the stored image.
  const sources: Record<number, (X: number, Y: number) => [number, number]> = {
    2: (X: number, Y: number) => [w - 1 - X, Y],
    3: (X: number, Y: number) => [w - 1 - X, h - 1 - Y],
    4: (X: number, Y: number) => [X, h - 1 - Y],
    5: (X: number, Y: number) => [Y, X],
    6: (X: number, Y: number) => [Y, h - 1 - X],
    7: (X: number, Y: number) => [w - 1 - Y, h - 1 - X],
    8: (X: number, Y: number) => [w - 1 - Y, X],
  };
  const source = sources[orientation];
  const out = new Uint8Array(data.length);
  const aligned = data.byteOffset % 4 === 0 ? data : data.slice();
  const pixels = new Uint32Array(aligned.buffer, aligned.byteOffset, w * h);
  const outPixels = new Uint32Array(out.buffer);
  for (let Y = 0; Y < height; Y++) {
    for (let X = 0; X < width; X++) {
      const [x, y] = source(X, Y);
      outPixels[Y * width + X] = pixels[y * w + x];
    }
  }
  return { width, height, data: out };
}
