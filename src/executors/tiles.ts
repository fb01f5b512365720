/**
 * @module Tiles of an image for a network: where each tile's features are exact.
 *
 * A position of a layer's activation map depends on a window of input pixels
 * (its receptive field, padding included). Cut the image into tiles, give each
 * tile a halo of real neighbouring pixels at least as wide as that window's
 * reach, and run the network on the tile plus halo (the *crop*): every position
 * whose window lies inside the crop gets exactly the value it has in the whole
 * image's map. At the image's own border the crop's border is the image's, so
 * the network pads there exactly as it does for the whole image (zeros or
 * reflection alike). Crops start on multiples of the network's total stride so
 * that every layer's sampling grid lines up with the whole image's; the
 * positions anchored in a tile (position j of a stride-S map is anchored at
 * input pixel j·S) then partition each map across the tiles.
 */
import { type GraphLayer, walkGraph } from "../net/graph.ts";

/** How far the layers asked for see, in input pixels. */
export interface Reach {
  /** Largest total stride among the layers (every crop starts on a multiple of it). */
  stride: number;
  /** Halo each side of a tile: a multiple of `stride` wide enough for every layer's window. */
  halo: number;
  /** Total stride of each layer asked for. */
  strides: Record<string, number>;
  /** Channels of each layer asked for. */
  channels: Record<string, number>;
  /** Estimated bytes per input pixel a forward + backward pass holds (activations and their gradients). */
  bytesPerPixel: number;
}

interface BlobReach {
  /** Total stride: position j is anchored at input pixel j·stride. */
  stride: number;
  /** The window of position j spans input pixels [j·stride - before, j·stride + after]. */
  before: number;
  after: number;
  channels: number;
}

/**
 * The reach of `layers` in `graph`: their strides and windows, walked through the
 * ops (convolutions and pools widen the window; concatenation takes the widest
 * input; LRN keeps it).
 *
 * @example
 * ```ts
 * const reach = reachOf(layersOf(network)!, ["fire9/concat"]);
 * reach.stride; // 16
 * ```
 */
export function reachOf(graph: readonly GraphLayer[], layers: readonly string[]): Reach {
  const start: BlobReach = { stride: 1, before: 0, after: 0, channels: 3 };
  const blobs = walkGraph(graph, layers, start, ({ op }, inputs) => {
    const first = inputs[0];
    if (op.type === "conv" || op.type === "pool") {
      const [k, s, p] = op.type === "conv"
        ? [op.layer.filter.shape[0], op.layer.stride, op.layer.pad]
        : [op.spec.kernel, op.spec.stride, op.spec.pad];
      // Output j reads input positions j·s - p … j·s - p + k - 1.
      return {
        stride: first.stride * s,
        before: first.before + p * first.stride,
        after: first.after + (k - 1 - p) * first.stride,
        channels: op.type === "conv" ? op.layer.filter.shape[3] : first.channels,
      };
    }
    return {
      stride: first.stride,
      before: Math.max(...inputs.map((b) => b.before)),
      after: Math.max(...inputs.map((b) => b.after)),
      channels: op.type === "concat" ? inputs.reduce((n, b) => n + b.channels, 0) : first.channels,
    };
  });
  let stride = 1, halo = 0, floats = 0;
  const strides: Record<string, number> = {};
  const channels: Record<string, number> = {};
  for (const blob of blobs.values()) floats += blob.channels / blob.stride ** 2;
  for (const layer of layers) {
    const blob = blobs.get(layer)!;
    strides[layer] = blob.stride;
    channels[layer] = blob.channels;
    stride = Math.max(stride, blob.stride);
    // A tile's first position needs `before` pixels of halo; its last (anchored one
    // stride short of the tile's end) needs `after - stride + 1`.
    halo = Math.max(halo, blob.before, blob.after - blob.stride + 1);
  }
  // Measured, not derived: for SqueezeNet's defaults at 512 and 1024 px the wasm heap
  // grows by ~3 KB per input pixel in a forward + backward pass, 8x the activations'
  // floats (each activation, its ReLU mask, the gradients, the convolutions' scratch).
  return {
    stride,
    halo: Math.ceil(halo / stride) * stride,
    strides,
    channels,
    bytesPerPixel: 4 * 8 * floats,
  };
}

/** One tile along both axes, in input pixels: the part it owns and the crop the network runs on. */
export interface Tile {
  /** Rows `[top, bottom)` and columns `[left, right)` this tile owns. */
  top: number;
  bottom: number;
  left: number;
  right: number;
  /** The crop the network runs on: the tile and at least its halo, inside the image. */
  cropTop: number;
  cropBottom: number;
  cropLeft: number;
  cropRight: number;
}

/**
 * Splits `[0, size)` into the fewest pieces no longer than `tile`, ⌈size / tile⌉ of them,
 * as even as `stride` allows (every inner edge a multiple of it). `offset` moves the inner
 * edges together within the slack the first and last pieces leave (neither past a tile,
 * nor under half its own length): a shifted grid has as many tiles, and costs as much,
 * as the still one. An offset of 0 is the still grid.
 */
export function cuts(
  size: number,
  tile: number,
  offset: number,
  stride: number,
): [number, number][] {
  const n = Math.ceil(size / tile);
  if (n <= 1) return [[0, size]];
  const edges = [0];
  for (let i = 1; i < n; i++) edges.push(Math.floor((i * size) / n / stride) * stride);
  const first = edges[1];
  const last = size - edges[n - 1];
  const down = Math.min(strides(tile - last, stride), strides(first / 2, stride));
  const up = Math.min(tile - first, strides(last / 2, stride));
  const positions = (up + down) / stride + 1;
  const shift = ((Math.floor(offset / stride) + down / stride) % positions) * stride - down;
  return edges.map((edge, i) => [
    edge === 0 ? 0 : edge + shift,
    i === n - 1 ? size : edges[i + 1] + shift,
  ]);
}

/** `length` rounded down to a multiple of `stride` (0 for a negative length). */
function strides(length: number, stride: number): number {
  return Math.max(0, Math.floor(length / stride) * stride);
}

/**
 * The tiles of an `height`x`width` image: a grid of pieces no larger than `tile`
 * (see {@linkcode cuts}) shifted by `offset` pixels (both multiples of `reach.stride`),
 * each with its crop: the tile plus its halo, cut at the image's border, or with
 * `uniform` all of one size (for executors that compile a graph per input size),
 * pushed back inside the image where the halo would overhang it.
 */
export function tileGrid(
  [height, width]: readonly [number, number],
  tile: number,
  reach: Reach,
  offset: readonly [number, number] = [0, 0],
  uniform = false,
): Tile[] {
  if (tile % reach.stride !== 0 || offset.some((o) => o % reach.stride !== 0)) {
    throw new RangeError(`tiles and offsets must be multiples of the stride ${reach.stride}`);
  }
  const crop = (start: number, end: number, size: number): [number, number] => {
    if (!uniform) return [Math.max(0, start - reach.halo), Math.min(size, end + reach.halo)];
    // One length for every crop along the axis: the tile and both halos, plus what makes
    // `size - length` a multiple of the stride, so a crop pushed back inside the image
    // still starts on the stride. It still holds the tile's halo on either side.
    const length = tile + 2 * reach.halo + (size % reach.stride);
    if (length >= size) return [0, size];
    const first = Math.min(Math.max(0, start - reach.halo), size - length);
    return [first, first + length];
  };
  const tiles: Tile[] = [];
  for (const [top, bottom] of cuts(height, tile, offset[0], reach.stride)) {
    const [cropTop, cropBottom] = crop(top, bottom, height);
    for (const [left, right] of cuts(width, tile, offset[1], reach.stride)) {
      const [cropLeft, cropRight] = crop(left, right, width);
      tiles.push({ top, bottom, left, right, cropTop, cropBottom, cropLeft, cropRight });
    }
  }
  return tiles;
}

/**
 * The positions of a stride-`stride` map of a crop anchored in the tile:
 * `[begin, end)` along rows and along columns, in the crop map's coordinates;
 * `mapSize` is the crop map's `[height, width]` and `image` the whole image's.
 */
export function ownedPositions(
  tile: Tile,
  stride: number,
  mapSize: readonly [number, number],
  [height, width]: readonly [number, number],
): { rows: [number, number]; cols: [number, number] } {
  const along = (start: number, end: number, cropStart: number, size: number, n: number) =>
    [
      Math.min(n, (start - cropStart) / stride),
      // The image's last tile owns every position to the map's end (a ceil-mode pool's last
      // window is anchored inside the image but may reach past it). A halo narrower than
      // the reach (only ever on purpose, in tests) can leave the crop's map short: clamp.
      end === size ? n : Math.min(n, (end - cropStart) / stride),
    ] as [number, number];
  return {
    rows: along(tile.top, tile.bottom, tile.cropTop, height, mapSize[0]),
    cols: along(tile.left, tile.right, tile.cropLeft, width, mapSize[1]),
  };
}
