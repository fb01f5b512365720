/**
 * @module What a stage optimises towards, measured once by its executor: the
 * content's activations (a whole stage) or the content itself (a tiled stage,
 * whose tiles measure their own), the styles' Grams blended, and (for networks
 * whose preset normalises) each layer's 1 / mean square.
 */
import * as tf from "@tensorflow/tfjs";
import type { Executor } from "../executors/executor.ts";
import { toHost } from "../executors/host_image.ts";
import {
  type HostMask,
  tiledGrams,
  type TiledStyleTarget,
  type TiledTargets,
  type Tiler,
} from "../executors/tiled.ts";
import type {
  Grams,
  LayerScales,
  LossDescription,
  RegionMask,
  StageTargets,
  StyleTarget,
} from "../loss/terms.ts";
import type { FeatureNetwork } from "../net/network.ts";

/**
 * The style images that paint one region of a stage (RGB 0..255) with their blend
 * weights, and the region at each style layer's resolution (everywhere without).
 */
export interface StyleRegion {
  images: readonly tf.Tensor4D[];
  blend: readonly number[];
  masks?: Record<string, HostMask>;
}

/** 1 / each layer's scalar (floored at 1e-12), read back once per stage. */
async function inverses(values: Record<string, tf.Tensor>): Promise<LayerScales> {
  const layers = Object.keys(values);
  if (layers.length === 0) return {};
  const stacked = tf.tidy(() => tf.stack(layers.map((l) => tf.reshape(values[l], []))));
  const read = await stacked.data();
  stacked.dispose();
  return Object.fromEntries(layers.map((l, i) => [l, 1 / Math.max(read[i], 1e-12)]));
}

/** 1 / mean(t²) per layer: makes every layer's loss start near 1 for peaky networks. */
async function inverseMeanSquares(tensors: Record<string, tf.Tensor>): Promise<LayerScales> {
  const squares = tf.tidy(() =>
    Object.fromEntries(Object.entries(tensors).map(([l, t]) => [l, tf.mean(tf.square(t))]))
  );
  try {
    return await inverses(squares);
  } finally {
    tf.dispose(Object.values(squares));
  }
}

/**
 * Σᵢ bᵢ·Gram(styleᵢ) per layer, the blend weights normalised to sum to one; `grams`
 * measures one RGB image's Grams (the caller's to free, as the result is).
 */
async function blendedGrams(
  styles: readonly tf.Tensor4D[],
  blend: readonly number[],
  grams: (rgb: tf.Tensor4D) => Promise<Grams>,
): Promise<Grams> {
  const total = blend.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error("style blend weights must not all be zero");
  let sum: Grams = {};
  try {
    for (const [i, style] of styles.entries()) {
      const own = await grams(style);
      const next = Object.fromEntries(
        Object.entries(own).map(([layer, g]) => [
          layer,
          tf.tidy(() => {
            const weighted = tf.mul(g, blend[i] / total);
            return sum[layer] ? tf.add(sum[layer], weighted) : weighted;
          }) as tf.Tensor2D,
        ]),
      );
      tf.dispose([...Object.values(own), ...Object.values(sum)]);
      sum = next;
    }
    return sum;
  } catch (error) {
    tf.dispose(Object.values(sum));
    throw error;
  }
}

/**
 * The targets of a whole-image stage from RGB 0..255 images: the content's activations
 * at the content layers, and per region its styles' blended Grams (and its masks as
 * tensors). The caller owns the tensors.
 */
export async function stageTargets(
  executor: Executor,
  network: FeatureNetwork,
  content: tf.Tensor4D,
  regions: readonly StyleRegion[],
  loss: LossDescription,
): Promise<StageTargets> {
  const contentLayers = Object.keys(loss.contentLayers);
  const styleLayers = Object.keys(loss.styleLayers);
  const measure = (rgb: tf.Tensor4D, request: { features?: string[]; grams?: string[] }) => {
    const x = tf.tidy(() => network.preprocess(rgb));
    try {
      return executor.measure(x, request);
    } finally {
      x.dispose();
    }
  };
  const targets: StageTargets = { content: {}, contentScales: {}, styles: [] };
  try {
    if (contentLayers.length) {
      targets.content = measure(content, { features: contentLayers }).features;
    }
    for (const region of styleLayers.length ? regions : []) {
      const style: StyleTarget = { grams: {}, scales: {} };
      targets.styles.push(style);
      if (region.masks) style.region = regionTensors(region.masks);
      style.grams = await blendedGrams(region.images, region.blend, (rgb) => {
        const { gramSums, squareSums, mapSizes } = measure(rgb, { grams: styleLayers });
        tf.dispose(Object.values(squareSums));
        const grams = tf.tidy(() =>
          Object.fromEntries(styleLayers.map((l) => [l, tf.div(gramSums[l], mapSizes[l])]))
        ) as Grams;
        tf.dispose(Object.values(gramSums));
        return Promise.resolve(grams);
      });
      if (loss.normalize) style.scales = await inverseMeanSquares(style.grams);
    }
    if (loss.normalize) targets.contentScales = await inverseMeanSquares(targets.content);
    return targets;
  } catch (error) {
    disposeTargets(targets);
    throw error;
  }
}

/** A region's masks as `[1, h, w, 1]` tensors. */
function regionTensors(masks: Record<string, HostMask>): Record<string, RegionMask> {
  return Object.fromEntries(
    Object.entries(masks).map(([layer, { data, height, width, mass }]) => [
      layer,
      { mask: tf.tensor4d(data, [1, height, width, 1]), mass },
    ]),
  );
}

/**
 * The targets of a tiled stage from RGB 0..255 images: the content, in host memory
 * (each tile measures its own activations); per region its styles' Grams measured tile
 * by tile and blended; and, when the loss normalises, each layer's 1 / mean square, as a
 * whole stage's. Images go to host memory as they are: the device never holds a whole one.
 */
export async function tiledStageTargets(
  tiler: Tiler,
  content: tf.Tensor4D,
  regions: readonly StyleRegion[],
  loss: LossDescription,
): Promise<TiledTargets> {
  const contentLayers = Object.keys(loss.contentLayers);
  const styleLayers = Object.keys(loss.styleLayers);
  const targets: TiledTargets = { content: await toHost(content), contentScales: {}, styles: [] };
  try {
    for (const region of styleLayers.length ? regions : []) {
      const style: TiledStyleTarget = { grams: {}, scales: {}, region: region.masks };
      targets.styles.push(style);
      style.grams = await blendedGrams(region.images, region.blend, async (rgb) => {
        const measured = await tiledGrams(tiler, await toHost(rgb), styleLayers, [0, 0], true);
        tf.dispose(Object.values(measured.meanSquares));
        return measured.grams;
      });
      if (loss.normalize) style.scales = await inverseMeanSquares(style.grams);
    }
    if (loss.normalize) {
      const measured = await tiledGrams(tiler, targets.content, contentLayers, [0, 0], true);
      tf.dispose(Object.values(measured.grams));
      try {
        targets.contentScales = await inverses(measured.meanSquares);
      } finally {
        tf.dispose(Object.values(measured.meanSquares));
      }
    }
    return targets;
  } catch (error) {
    disposeTargets(targets);
    throw error;
  }
}

/**
 * A whole stage's targets as a tiled objective takes them, for comparing the two: the
 * content RGB in host memory, the same Grams, the regions' masks read back to host memory.
 */
export async function asTiledTargets(
  targets: StageTargets,
  content: tf.Tensor4D,
): Promise<TiledTargets> {
  const styles: TiledStyleTarget[] = [];
  for (const { grams, scales, region } of targets.styles) {
    const host: Record<string, HostMask> = {};
    for (const [layer, { mask, mass }] of Object.entries(region ?? {})) {
      const [, height, width] = mask.shape;
      host[layer] = { data: await mask.data() as Float32Array, height, width, mass };
    }
    styles.push({ grams, scales, region: region ? host : undefined });
  }
  return { content: await toHost(content), contentScales: targets.contentScales, styles };
}

/** Frees a stage's target tensors (a tiled stage's content and masks are in host memory). */
export function disposeTargets(targets: StageTargets | TiledTargets | undefined): void {
  if (!targets) return;
  const content = "data" in targets.content ? [] : Object.values(targets.content as object);
  const styles = (targets.styles as (StyleTarget | TiledStyleTarget)[]).flatMap((style) => [
    ...Object.values(style.grams),
    ...Object.values(style.region ?? {}).flatMap((r: RegionMask | HostMask) =>
      "mask" in r ? [r.mask] : []
    ),
  ]);
  tf.dispose([...content, ...styles]);
}
