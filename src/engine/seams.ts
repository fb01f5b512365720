/**
 * @module How visible tile edges are in an image: a measure for tests and benches.
 */
import type { HostImage } from "./host_image.ts";
import type { Tile } from "./tiles.ts";

/**
 * The mean squared step between neighbouring pixels across the lines where `tiles`
 * (a still grid) meet, over the same across the other lines of the same phase of
 * `stride` (the network's coarsest stride, so both sets see the same sampling
 * pattern). About 1 where tile edges leave no trace; a seam raises it.
 */
export function seamRatio(
  { data, height, width }: HostImage,
  tiles: readonly Tile[],
  stride: number,
): number {
  const rows = new Set(tiles.map((t) => t.top).filter((top) => top > 0));
  const columns = new Set(tiles.map((t) => t.left).filter((left) => left > 0));
  const sums = { seam: [0, 0], other: [0, 0] };
  const at = (y: number, x: number, c: number) => data[(y * width + x) * 3 + c];
  const add = (line: number, seams: Set<number>, d: number) => {
    if (line % stride !== 0) return;
    const bucket = seams.has(line) ? sums.seam : sums.other;
    bucket[0] += d;
    bucket[1] += 1;
  };
  for (let y = 1; y < height; y++) {
    for (let x = 1; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        add(x, columns, (at(y, x, c) - at(y, x - 1, c)) ** 2);
        add(y, rows, (at(y, x, c) - at(y - 1, x, c)) ** 2);
      }
    }
  }
  return (sums.seam[0] / sums.seam[1]) / (sums.other[0] / sums.other[1]);
}
