/**
 * @module The style objective of a large image, evaluated tile by tile in bounded memory.
 *
 * The style loss sees the whole image only through each layer's Gram matrix,
 * and a Gram matrix is a sum over positions: G = Σₜ FₜᵀFₜ / k over the tiles t
 * (`tiles.ts` makes each tile's features exact). So one evaluation is two passes:
 *
 * 1. Forward over every tile, summing FₜᵀFₜ: the whole image's Gram G, and with
 *    it the style loss and D = ∂L/∂G = 2·w·(G - T)/C² per layer.
 * 2. Forward and backward over every tile of a surrogate whose gradient is the
 *    true one: ½·Σ(FₜᵀFₜ ⊙ M) with M = 2D/k has ∂/∂Fₜ = Fₜ·M = ∂L/∂Fₜ, plus the
 *    content and total-variation terms of the positions and pixel pairs the tile
 *    owns (both are sums over positions too). Each crop's gradient, halo
 *    included, is added into the whole image's.
 *
 * That is the full image's Gatys gradient, not an approximation: no seams by
 * construction. The image, the content and the gradient stay in host memory
 * (`host_image.ts`): the device holds one tile's forward and backward pass at a time.
 * The grid shifts between evaluations (by multiples of the stride), so no tile
 * edge stays in one place.
 */
import * as tf from "@tensorflow/tfjs";
import type { FeatureNetwork, LayerWeights } from "../net/network.ts";
import { gram } from "../ops/gram.ts";
import { valueAndGrad } from "../ops/tape.ts";
import type { AsyncObjective, HostObjective } from "./optimizer.ts";
import type { Grams, LayerScales } from "./losses.ts";
import { addCrop, cropTile, type HostImage, toHost } from "./host_image.ts";
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

/** The loss set-up a tiled objective needs (as `LossSetup`, without `normalize`). */
export interface TiledLoss {
  contentLayers: LayerWeights;
  styleLayers: LayerWeights;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
}

/** What a tiled stage optimises towards. */
export interface TiledTargets {
  /**
   * The content image, RGB 0..255 at the stage's size, in host memory: each tile's crop is
   * preprocessed and its features recomputed as the tile's pass needs them.
   */
  content: HostImage;
  /** Blended style Grams, normalised as `gram()` normalises. */
  grams: Grams;
  contentScales: LayerScales;
  styleScales: LayerScales;
}

/** The part of `features` a tile owns, per layer; layers where it owns nothing are left out. */
function owned(
  features: Record<string, tf.Tensor4D>,
  tile: Tile,
  image: readonly [number, number],
  reach: Reach,
): Record<string, tf.Tensor4D> {
  const out: Record<string, tf.Tensor4D> = {};
  for (const [layer, f] of Object.entries(features)) {
    const [, h, w, c] = f.shape;
    const { rows, cols } = ownedPositions(tile, reach.strides[layer], [h, w], image);
    if (rows[1] <= rows[0] || cols[1] <= cols[0]) continue;
    out[layer] = tf.slice(f, [0, rows[0], cols[0], 0], [
      1,
      rows[1] - rows[0],
      cols[1] - cols[0],
      c,
    ]);
  }
  return out;
}

/**
 * Σ over tiles of each layer's FᵀF / k (k the whole map's h·w·c), i.e. the Grams of
 * `x`, and Σ F² / (h·w·c): the mean squares, computed one tile at a time. `x` is
 * preprocessed, or RGB 0..255 when `rgb` is set (each crop is then preprocessed alone).
 */
export function tiledGrams(
  network: FeatureNetwork,
  x: HostImage,
  layers: readonly string[],
  tiling: Tiling,
  offset: readonly [number, number] = [0, 0],
  rgb = false,
): { grams: Grams; meanSquares: Record<string, tf.Scalar> } {
  const { height, width } = x;
  const sizes = mapSizes(network, [height, width], layers, tiling.reach);
  const sums: Record<string, tf.Tensor2D> = {};
  const squares: Record<string, tf.Scalar> = {};
  for (const tile of tileGrid([height, width], tiling.tile, tiling.reach, offset)) {
    const parts = tf.tidy(() => {
      const mine = owned(
        network.features(
          rgb ? network.preprocess(cropTile(x, tile)) : cropTile(x, tile),
          layers,
        ),
        tile,
        [height, width],
        tiling.reach,
      );
      return Object.fromEntries(
        Object.entries(mine).map(([layer, f]) => {
          const [, h, w, c] = f.shape;
          const m = tf.reshape(f, [h * w, c]) as tf.Tensor2D;
          return [layer, [tf.matMul(tf.transpose(m), m), tf.sum(tf.square(m))]];
        }),
      ) as Record<string, [tf.Tensor2D, tf.Scalar]>;
    });
    for (const [layer, [g, s]] of Object.entries(parts)) {
      accumulate(sums, layer, g);
      accumulate(squares, layer, s);
    }
  }
  const grams: Grams = {};
  const meanSquares: Record<string, tf.Scalar> = {};
  for (const layer of layers) {
    const k = sizes[layer];
    grams[layer] = tf.tidy(() => tf.div(sums[layer], k));
    meanSquares[layer] = tf.tidy(() => tf.div(squares[layer], k));
  }
  tf.dispose([...Object.values(sums), ...Object.values(squares)]);
  return { grams, meanSquares };
}

function accumulate<T extends tf.Tensor>(into: Record<string, T>, key: string, value: T) {
  const previous = into[key];
  into[key] = previous ? tf.add(previous, value) as T : value;
  if (previous) tf.dispose([previous, value]);
}

/** h·w·c of each layer's map for the whole image. */
function mapSizes(
  network: FeatureNetwork,
  image: readonly [number, number],
  layers: readonly string[],
  reach: Reach,
): Record<string, number> {
  if (!network.outputSizes) throw new Error(`${network.id} cannot be tiled: no layer geometry`);
  const sizes = network.outputSizes(image, layers);
  return Object.fromEntries(
    layers.map((l) => [l, sizes[l][0] * sizes[l][1] * reach.channels[l]]),
  );
}

/**
 * The objective of a stage evaluated over tiles, on host memory: x -> [total, content,
 * style, tv] and ∇ₓ total, equal (to float rounding) to the untiled `styleObjective`'s.
 */
export function tiledObjective(
  network: FeatureNetwork,
  targets: TiledTargets,
  loss: TiledLoss,
  tiling: Tiling,
): HostObjective {
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
    // Pass 1: the whole image's Grams, its style loss and the seed M of each style layer.
    const { grams, meanSquares } = tiledGrams(network, x, styleLayers, tiling, offset);
    tf.dispose(Object.values(meanSquares));
    const [style, seeds] = tf.tidy(() => {
      const terms: tf.Scalar[] = [];
      const seeds: Record<string, tf.Tensor2D> = {};
      for (const layer of styleLayers) {
        const c = channels[layer];
        const w = loss.styleWeight * loss.styleLayers[layer] * (targets.styleScales[layer] ?? 1);
        const diff = tf.sub(grams[layer], targets.grams[layer]);
        terms.push(tf.mul(tf.mean(tf.square(diff)), w));
        // M = 2·∂L/∂G / k, with ∂L/∂G = 2w(G - T)/C².
        seeds[layer] = tf.mul(diff, (4 * w) / (c * c * sizes[layer])) as tf.Tensor2D;
      }
      return [terms.length > 0 ? tf.addN(terms) : tf.scalar(0), seeds] as const;
    });
    tf.dispose(Object.values(grams));

    // Pass 2: each tile's share of the gradient, summed into the whole image's.
    gradient.fill(0);
    const into: HostImage = { data: gradient, height, width };
    let content = 0;
    let tv = 0;
    const tiles = tileGrid(image, tiling.tile, tiling.reach, offset);
    try {
      for (const [done, tile] of tiles.entries()) {
        // Between tiles the process answers its messages (progress, cancel, health).
        await new Promise((resolve) => setTimeout(resolve, 0));
        tiling.signal?.throwIfAborted();
        const contentTarget = tf.tidy(() =>
          owned(
            network.features(network.preprocess(cropTile(targets.content, tile)), contentLayers),
            tile,
            image,
            tiling.reach,
          )
        );
        let tileContent: tf.Scalar | undefined, tileTv: tf.Scalar | undefined;
        const share = valueAndGrad((c: tf.Tensor4D) => {
          const mine = owned(network.features(c, layers), tile, image, tiling.reach);
          const terms: tf.Scalar[] = [tf.scalar(0)];
          for (const layer of styleLayers) {
            if (!mine[layer]) continue;
            const [, h, w, ch] = mine[layer].shape;
            // gram() divides by the tile's h·w·c; the surrogate wants the plain FᵀF.
            terms.push(tf.mul(tf.sum(tf.mul(gram(mine[layer]), seeds[layer])), 0.5 * h * w * ch));
          }
          const contentTerms: tf.Scalar[] = [tf.scalar(0)];
          for (const layer of contentLayers) {
            if (!mine[layer]) continue;
            const w = loss.contentWeight * loss.contentLayers[layer] *
              (targets.contentScales[layer] ?? 1);
            contentTerms.push(tf.mul(
              tf.sum(tf.squaredDifference(mine[layer], contentTarget[layer])),
              w / sizes[layer],
            ));
          }
          const contentSum = tf.addN(contentTerms) as tf.Scalar;
          const tvSum = loss.tvWeight > 0
            ? tf.mul(tileVariation(c, tile, image), loss.tvWeight) as tf.Scalar
            : tf.scalar(0);
          tileContent = tf.keep(contentSum);
          tileTv = tf.keep(tvSum);
          return tf.addN([...terms, contentSum, tvSum]) as tf.Scalar;
        });
        const c = cropTile(x, tile);
        try {
          const result = share(c);
          addCrop(into, tile, await result.grad.data() as Float32Array);
          content += (await tileContent!.data())[0];
          tv += (await tileTv!.data())[0];
          tf.dispose([result.value, result.grad]);
        } finally {
          tf.dispose([c, ...Object.values(contentTarget)]);
          tf.dispose([tileContent, tileTv].filter((t) => t !== undefined));
        }
        tiling.onTile?.(done + 1, tiles.length);
      }
      const styleValue = (await style.data())[0];
      return [content + styleValue + tv, content, styleValue, tv];
    } finally {
      tf.dispose([style, ...Object.values(seeds)]);
    }
  };
}

/**
 * `objective` for the optimisers over tensors (Adam) and for comparisons: reads `x`
 * back, and hands the values and gradient over as tensors.
 */
export function onTensors(objective: HostObjective): AsyncObjective {
  return async (x) => {
    const grad = new Float32Array(x.size);
    const values = await objective(await x.data() as Float32Array, grad);
    return { values: tf.tensor1d(values), grad: tf.tensor(grad, x.shape) };
  };
}

/** The grid's shift for the n-th evaluation: a multiple of the stride, spread over the tile. */
function gridOffset(n: number, { tile, reach }: Tiling): [number, number] {
  const steps = tile / reach.stride;
  const at = (golden: number) => Math.floor(((n * golden) % 1) * steps) * reach.stride;
  return [at(0.6180339887), at(0.7548776662)];
}

/**
 * The total-variation sums of the pixel pairs whose first pixel the tile owns, divided as
 * `tvLoss` divides the whole image's (by its pair counts): summed over tiles, `tvLoss(x)`.
 */
function tileVariation(c: tf.Tensor4D, tile: Tile, [height, width]: readonly [number, number]) {
  return tf.tidy(() => {
    const top = tile.top - tile.cropTop;
    const left = tile.left - tile.cropLeft;
    const rows = tile.bottom - tile.top;
    const cols = tile.right - tile.left;
    // A pair needs its second pixel in the crop: always so with a halo (and at the image's
    // end there is no pair to count).
    const downRows = Math.min(tile.bottom, height - 1, tile.cropBottom - 1) - tile.top;
    const rightCols = Math.min(tile.right, width - 1, tile.cropRight - 1) - tile.left;
    const terms: tf.Scalar[] = [tf.scalar(0)];
    if (downRows > 0) {
      const a = tf.slice(c, [0, top, left, 0], [1, downRows, cols, 3]);
      const b = tf.slice(c, [0, top + 1, left, 0], [1, downRows, cols, 3]);
      terms.push(tf.div(tf.sum(tf.squaredDifference(a, b)), (height - 1) * width * 3));
    }
    if (rightCols > 0) {
      const a = tf.slice(c, [0, top, left, 0], [1, rows, rightCols, 3]);
      const b = tf.slice(c, [0, top, left + 1, 0], [1, rows, rightCols, 3]);
      terms.push(tf.div(tf.sum(tf.squaredDifference(a, b)), height * (width - 1) * 3));
    }
    return tf.addN(terms) as tf.Scalar;
  });
}

/**
 * The targets of a tiled stage from RGB 0..255 images: the content (in host memory); the
 * style Grams computed tile by tile and blended by `blend`; and, when `normalize` is on,
 * each layer's 1 / mean square (as the untiled stage's). Images go to host memory as
 * they are: the device never holds a preprocessed copy of a whole image.
 */
export async function tiledTargets(
  network: FeatureNetwork,
  content: tf.Tensor4D,
  styles: readonly tf.Tensor4D[],
  blend: readonly number[],
  loss: TiledLoss & { normalize: boolean },
  tiling: Tiling,
): Promise<TiledTargets> {
  const styleLayers = Object.keys(loss.styleLayers);
  const contentLayers = Object.keys(loss.contentLayers);
  const total = blend.reduce((a, b) => a + b, 0);
  let grams: Grams = {};
  try {
    for (const [i, style] of styles.entries()) {
      const { grams: own, meanSquares } = tiledGrams(
        network,
        await toHost(style),
        styleLayers,
        tiling,
        [0, 0],
        true,
      );
      tf.dispose(Object.values(meanSquares));
      const next = Object.fromEntries(styleLayers.map((layer) => [
        layer,
        tf.tidy(() => {
          const weighted = tf.mul(own[layer], blend[i] / total);
          return grams[layer] ? tf.add(grams[layer], weighted) : weighted;
        }) as tf.Tensor2D,
      ]));
      tf.dispose([...Object.values(own), ...Object.values(grams)]);
      grams = next;
    }
    const targets: TiledTargets = {
      content: await toHost(content),
      grams,
      contentScales: {},
      styleScales: {},
    };
    if (loss.normalize) {
      const { grams: contentGrams, meanSquares } = tiledGrams(
        network,
        targets.content,
        contentLayers,
        tiling,
        [0, 0],
        true,
      );
      tf.dispose(Object.values(contentGrams));
      targets.contentScales = await inverse(meanSquares);
      tf.dispose(Object.values(meanSquares));
      const gramSquares = Object.fromEntries(styleLayers.map((layer) => [
        layer,
        tf.tidy(() => tf.mean(tf.square(grams[layer])) as tf.Scalar),
      ]));
      targets.styleScales = await inverse(gramSquares);
      tf.dispose(Object.values(gramSquares));
    }
    return targets;
  } catch (error) {
    tf.dispose(Object.values(grams));
    throw error;
  }
}

/** 1 / each value, read back (floored at 1e-12, as the untiled stage does). */
async function inverse(values: Record<string, tf.Scalar>): Promise<LayerScales> {
  const out: LayerScales = {};
  for (const [layer, value] of Object.entries(values)) {
    out[layer] = 1 / Math.max((await value.data())[0], 1e-12);
  }
  return out;
}
