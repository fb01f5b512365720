/**
 * @module The objective of a large image, evaluated tile by tile in bounded
 * memory on any executor.
 *
 * The style loss sees the whole image only through each layer's Gram matrix,
 * and a Gram matrix is a sum over positions: G = Σₜ FₜᵀFₜ / k over the tiles t,
 * Fₜ the positions tile t owns (`tiles.ts` makes each tile's features exact, and
 * a mask picks its own positions). So one evaluation is two passes:
 *
 * 1. The executor measures every tile's Gram sum: the whole image's G (per style
 *    region: the guided Gram of F ⊙ mask), and with it the style loss and
 *    ∂L/∂G = 2·w·(G - T)/C² per layer.
 * 2. The executor evaluates every tile's share of the loss: the `styleSeed` term
 *    ½·Σ(FₜᵀFₜ ⊙ M) with M = 2·∂L/∂G / k, whose gradient is the style loss's own
 *    at the tile's positions, and the content and total-variation terms masked
 *    to the positions and pixel pairs the tile owns. Each crop's gradient, halo
 *    included, is added into the whole image's.
 *
 * That is the full image's Gatys gradient, not an approximation: no seams by
 * construction. The image, the content and the gradient stay in host memory
 * (`host_image.ts`): the device holds one tile's pass at a time. The grid
 * shifts between evaluations (by multiples of the stride), so no tile edge
 * stays in one place.
 */
import * as tf from "@tensorflow/tfjs";
import type { Grams, LayerScales, LossDescription, Mask, Term } from "../loss/terms.ts";
import { tvTerm } from "../loss/terms.ts";
import type { FeatureNetwork } from "../net/network.ts";
import type { Evaluation, Executor, HostObjective } from "./executor.ts";
import { addCrop, cropTile, type HostImage } from "./host_image.ts";
import { ownedPositions, type Reach, type Tile, tileGrid } from "./tiles.ts";

/** How a stage is cut: the tile side (a multiple of `reach.stride`) and the network's reach. */
export interface Tiling {
  tile: number;
  reach: Reach;
  /** Called after each tile of an evaluation's gradient pass (`done` of `total`). */
  onTile?: (done: number, total: number) => void;
  /** Checked between tiles: an abort ends the evaluation with `signal.reason`. */
  signal?: AbortSignal;
  /** Shift the grid between evaluations (default true; tests hold it still to look for seams). */
  shift?: boolean;
}

/** A mask of one layer's whole map in host memory, and its mass Σ mask². */
export interface HostMask {
  data: Float32Array;
  height: number;
  width: number;
  mass: number;
}

/** A style of a tiled stage: its Grams and their normalisation, and where it paints (per style layer). */
export interface TiledStyleTarget {
  grams: Grams;
  scales: LayerScales;
  region?: Record<string, HostMask>;
}

/** What a tiled stage optimises towards. */
export interface TiledTargets {
  /**
   * The content image, RGB 0..255 at the stage's size, in host memory: each tile's crop is
   * preprocessed and its features recomputed as the tile's pass needs them.
   */
  content: HostImage;
  contentScales: LayerScales;
  /** One per region (one for the whole image without masks), Grams normalised as `gram()` does. */
  styles: TiledStyleTarget[];
}

/** A tiled evaluation's executor, network and cut. */
export interface Tiler {
  executor: Executor;
  network: FeatureNetwork;
  tiling: Tiling;
}

/** The tiles of an image of `size` for `tiler`'s executor, the grid shifted by `offset`. */
function tilesOf(
  { executor, tiling }: Tiler,
  size: readonly [number, number],
  offset: readonly [number, number],
) {
  return tileGrid(size, tiling.tile, tiling.reach, offset, executor.fixedShapes);
}

/**
 * Masks of the positions `tile` owns in each of `layers`' maps of its crop (and, under
 * the key `""`, of its pixels), as `[1, h, w, 1]` tensors: 1 inside and 0 outside, or
 * inside a `region` the region's own mask there (cut from its whole map).
 */
function ownedMasks(
  { network, tiling }: Tiler,
  tile: Tile,
  image: readonly [number, number],
  layers: readonly string[],
  pixels = false,
  region?: Record<string, HostMask>,
): Record<string, Mask> {
  const crop = [tile.cropBottom - tile.cropTop, tile.cropRight - tile.cropLeft] as const;
  if (!network.outputSizes) throw new Error(`${network.id} cannot be tiled: no layer geometry`);
  const sizes = network.outputSizes(crop, layers);
  const mask = (size: readonly [number, number], stride: number, within?: HostMask) => {
    const { rows, cols } = ownedPositions(tile, stride, size, image);
    const [h, w] = size;
    const data = new Float32Array(h * w);
    // The crop's map starts at the whole map's position cropTop / stride (crops are on the stride).
    const [top, left] = [tile.cropTop / stride, tile.cropLeft / stride];
    for (let r = rows[0]; r < rows[1]; r++) {
      if (!within) {
        data.fill(1, r * w + cols[0], r * w + cols[1]);
        continue;
      }
      const row = (top + r) * within.width + left;
      for (let c = cols[0]; c < cols[1]; c++) data[r * w + c] = within.data[row + c];
    }
    return tf.tensor4d(data, [1, h, w, 1]);
  };
  const masks: Record<string, Mask> = {};
  for (const layer of layers) {
    masks[layer] = mask(sizes[layer], tiling.reach.strides[layer], region?.[layer]);
  }
  if (pixels) masks[""] = mask(crop, 1);
  return masks;
}

/**
 * Σ over tiles of each layer's FᵀF / k (k the whole map's h·w·c), i.e. the Grams of
 * `x`, and Σ F² / k: the mean squares, measured one tile at a time by `tiler.executor`;
 * within a `region`, of F ⊙ mask, with k its mass·c (the guided Grams).
 * `x` is preprocessed, or RGB 0..255 when `rgb` is set (each crop is then
 * preprocessed alone: the device never holds a preprocessed copy of the whole image).
 */
export async function tiledGrams(
  tiler: Tiler,
  x: HostImage,
  layers: readonly string[],
  offset: readonly [number, number] = [0, 0],
  rgb = false,
  region?: Record<string, HostMask>,
): Promise<{ grams: Grams; meanSquares: Record<string, tf.Scalar> }> {
  const { network, executor, tiling } = tiler;
  const image = [x.height, x.width] as const;
  const sizes = mapSizes(network, image, layers, tiling.reach, region);
  const sums: Record<string, tf.Tensor2D> = {};
  const squares: Record<string, tf.Scalar> = {};
  for (const tile of tilesOf(tiler, image, offset)) {
    await new Promise((resolve) => setTimeout(resolve, 0)); // answer messages between tiles
    tiling.signal?.throwIfAborted();
    const masks = ownedMasks(tiler, tile, image, layers, false, region);
    const crop = tf.tidy(() => rgb ? network.preprocess(cropTile(x, tile)) : cropTile(x, tile));
    try {
      const { gramSums, squareSums } = executor.measure(crop, { grams: layers, masks });
      for (const layer of layers) {
        accumulate(sums, layer, gramSums[layer]);
        accumulate(squares, layer, squareSums[layer]);
      }
    } finally {
      tf.dispose([crop, ...Object.values(masks)]);
    }
  }
  const grams: Grams = {};
  const meanSquares: Record<string, tf.Scalar> = {};
  for (const layer of layers) {
    grams[layer] = tf.tidy(() => tf.div(sums[layer], sizes[layer]));
    meanSquares[layer] = tf.tidy(() => tf.div(squares[layer], sizes[layer]));
  }
  tf.dispose([...Object.values(sums), ...Object.values(squares)]);
  return { grams, meanSquares };
}

function accumulate<T extends tf.Tensor>(into: Record<string, T>, key: string, value: T) {
  const previous = into[key];
  into[key] = previous ? tf.add(previous, value) as T : value;
  if (previous) tf.dispose([previous, value]);
}

/** h·w·c of each layer's map for the whole image (within a `region`, its mass·c). */
function mapSizes(
  network: FeatureNetwork,
  image: readonly [number, number],
  layers: readonly string[],
  reach: Reach,
  region?: Record<string, HostMask>,
): Record<string, number> {
  if (!network.outputSizes) throw new Error(`${network.id} cannot be tiled: no layer geometry`);
  const sizes = network.outputSizes(image, layers);
  return Object.fromEntries(layers.map((l) => [
    l,
    (region?.[l]?.mass ?? sizes[l][0] * sizes[l][1]) * reach.channels[l],
  ]));
}

/**
 * The objective of a stage evaluated over tiles by `executor`, on host memory:
 * x -> [total, content, style, tv] and ∇ₓ total, equal (to float rounding) to the
 * whole image's evaluation of the same loss.
 */
export function tiledObjective(
  executor: Executor,
  network: FeatureNetwork,
  loss: LossDescription,
  targets: TiledTargets,
  tiling: Tiling,
): HostObjective {
  const tiler = { executor, network, tiling };
  const styleLayers = Object.keys(loss.styleLayers);
  const contentLayers = Object.keys(loss.contentLayers);
  const layers = [...new Set([...contentLayers, ...styleLayers])];
  const { height, width } = targets.content;
  const image = [height, width] as const;
  const sizes = mapSizes(network, image, layers, tiling.reach);
  const channels = tiling.reach.channels;
  let evaluations = 0;

  return async (data, gradient) => {
    const x: HostImage = { data, height, width };
    const offset = tiling.shift === false ? [0, 0] as const : gridOffset(evaluations++, tiling);
    // Pass 1: each style's Grams over its region, its style loss and the seed M of each layer.
    const seeds: Record<string, tf.Tensor2D>[] = [];
    const styleTerms: tf.Scalar[] = [];
    let style: tf.Scalar | undefined;
    try {
      for (const target of targets.styles) {
        const { grams, meanSquares } = await tiledGrams(
          tiler,
          x,
          styleLayers,
          offset,
          false,
          target.region,
        );
        tf.dispose(Object.values(meanSquares));
        const k = mapSizes(network, image, styleLayers, tiling.reach, target.region);
        seeds.push(tf.tidy(() => {
          const own: Record<string, tf.Tensor2D> = {};
          for (const layer of styleLayers) {
            const c = channels[layer];
            const w = loss.styleWeight * loss.styleLayers[layer] * (target.scales[layer] ?? 1);
            const diff = tf.sub(grams[layer], target.grams[layer]);
            styleTerms.push(tf.keep(tf.mul(tf.mean(tf.square(diff)), w) as tf.Scalar));
            // M = 2·∂L/∂G / k, with ∂L/∂G = 2w(G - T)/C².
            own[layer] = tf.mul(diff, (4 * w) / (c * c * k[layer])) as tf.Tensor2D;
          }
          return own;
        }));
        tf.dispose(Object.values(grams));
      }
      style = styleTerms.length > 0 ? tf.addN(styleTerms) : tf.scalar(0);

      // Pass 2: each tile's share of the gradient, summed into the whole image's.
      gradient.fill(0);
      const into: HostImage = { data: gradient, height, width };
      let content = 0;
      let tv = 0;
      const tiles = tilesOf(tiler, image, offset);
      for (const [done, tile] of tiles.entries()) {
        // Between tiles the process answers its messages (progress, cancel, health).
        await new Promise((resolve) => setTimeout(resolve, 0));
        tiling.signal?.throwIfAborted();
        const masks = ownedMasks(tiler, tile, image, layers, loss.tvWeight > 0);
        const regions = targets.styles.map((target) =>
          target.region ? ownedMasks(tiler, tile, image, styleLayers, false, target.region) : masks
        );
        const crop = cropTile(x, tile);
        const made: tf.Tensor[] = [
          crop,
          ...Object.values(masks),
          ...regions.filter((r) => r !== masks).flatMap((r) => Object.values(r)),
        ];
        let evaluation: Evaluation | undefined;
        try {
          const terms: Term[] = [];
          if (contentLayers.length > 0) {
            const contentCrop = tf.tidy(() => network.preprocess(cropTile(targets.content, tile)));
            made.push(contentCrop);
            const { features } = executor.measure(contentCrop, { features: contentLayers });
            made.push(...Object.values(features));
            for (const [layer, weight] of Object.entries(loss.contentLayers)) {
              const scale = loss.contentWeight * weight * (targets.contentScales[layer] ?? 1);
              terms.push({
                kind: "content",
                layer,
                weight: scale / sizes[layer],
                target: features[layer],
                mask: masks[layer],
              });
            }
          }
          targets.styles.forEach((_, r) => {
            for (const layer of styleLayers) {
              terms.push({
                kind: "styleSeed",
                layer,
                seed: seeds[r][layer],
                mask: regions[r][layer],
              });
            }
          });
          if (loss.tvWeight > 0) terms.push(tvTerm(loss.tvWeight, image, masks[""]));
          evaluation = executor.evaluate(crop, terms);
          addCrop(into, tile, await evaluation.grad.data() as Float32Array);
          const values = await evaluation.values.data();
          content += values[1];
          tv += values[3];
        } finally {
          tf.dispose(made);
          if (evaluation) tf.dispose([evaluation.values, evaluation.grad]);
        }
        tiling.onTile?.(done + 1, tiles.length);
      }
      const styleValue = (await style.data())[0];
      return [content + styleValue + tv, content, styleValue, tv];
    } finally {
      tf.dispose([...styleTerms, ...seeds.flatMap((own) => Object.values(own))]);
      if (style) tf.dispose(style);
    }
  };
}

/**
 * `objective` for the optimisers over tensors (Adam) and for comparisons: reads `x`
 * back, and hands the values and gradient over as tensors.
 */
export function onTensors(
  objective: HostObjective,
): (x: tf.Tensor) => Promise<Evaluation> {
  return async (x) => {
    const grad = new Float32Array(x.size);
    const values = await objective(await x.data() as Float32Array, grad);
    return { values: tf.tensor1d(values), grad: tf.tensor(grad, x.shape) };
  };
}

/**
 * `objective` over tensors as an objective over host memory, for images of `[h, w]`: the
 * image goes to the device for each evaluation, the gradient and values come back.
 */
export function fromTensors(
  objective: (x: tf.Tensor) => Promise<Evaluation>,
  [h, w]: readonly [number, number],
): HostObjective {
  return async (x, grad) => {
    const image = tf.tensor4d(x, [1, h, w, 3]);
    let evaluation: Evaluation | undefined;
    try {
      evaluation = await objective(image);
      grad.set(await evaluation.grad.data() as Float32Array);
      return Array.from(await evaluation.values.data());
    } finally {
      tf.dispose([image, ...(evaluation ? [evaluation.values, evaluation.grad] : [])]);
    }
  };
}

/** The grid's shift for the n-th evaluation: a multiple of the stride, spread over the tile. */
function gridOffset(n: number, { tile, reach }: Tiling): [number, number] {
  const steps = tile / reach.stride;
  const at = (golden: number) => Math.floor(((n * golden) % 1) * steps) * reach.stride;
  return [at(0.6180339887), at(0.7548776662)];
}
