/**
 * @module How visible tile edges are in an image: a measure for tests and benches.
 */
import type { HostImage } from "../executors/host_image.ts";
import type { Tile } from "../executors/tiles.ts";

/**
 * How much more the image changes across the lines where `tiles` (a still grid) meet
 * than across the other lines of the same phase of `stride` (the network's coarsest
 * stride, so both sets see the same sampling pattern): the median over seam lines of
 * each line's mean squared step between neighbouring pixels (rows and columns
 * pooled), over the same median for the other lines. Medians, so
 * that a photo's own straight edges (a building's side that happens to lie on a
 * line) do not decide it. About 1 where tile edges leave no trace; a seam, which
 * runs along every edge, raises it.
 */
export function seamRatio(
  { data, height, width }: HostImage,
  tiles: readonly Tile[],
  stride: number,
): number {
  const rows = new Set(tiles.map((t) => t.top).filter((top) => top > 0));
  const columns = new Set(tiles.map((t) => t.left).filter((left) => left > 0));
  const at = (y: number, x: number, c: number) => data[(y * width + x) * 3 + c];
  // Each line's mean squared step across it: rows (between y - 1 and y), then columns.
  const seam: number[] = [];
  const other: number[] = [];
  for (let y = stride; y < height; y += stride) {
    let sum = 0;
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) sum += (at(y, x, c) - at(y - 1, x, c)) ** 2;
    }
    (rows.has(y) ? seam : other).push(sum / (width * 3));
  }
  for (let x = stride; x < width; x += stride) {
    let sum = 0;
    for (let y = 0; y < height; y++) {
      for (let c = 0; c < 3; c++) sum += (at(y, x, c) - at(y, x - 1, c)) ** 2;
    }
    (columns.has(x) ? seam : other).push(sum / (height * 3));
  }
  return median(seam) / median(other);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
