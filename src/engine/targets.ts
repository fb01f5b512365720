/**
 * @module What a whole-image stage optimises towards, measured once by its executor:
 * the content's activations, the styles' Grams blended, and (for networks whose
 * preset normalises) each layer's 1 / mean square.
 */
import * as tf from "@tensorflow/tfjs";
import type { Executor } from "../executors/executor.ts";
import type { Grams, LayerScales, LossDescription, StageTargets } from "../loss/terms.ts";
import type { FeatureNetwork } from "../net/network.ts";

/** 1 / mean(t²) per layer, read back once per stage: makes every layer's loss start near 1. */
async function inverseMeanSquares(tensors: Record<string, tf.Tensor>): Promise<LayerScales> {
  const layers = Object.keys(tensors);
  if (layers.length === 0) return {};
  const ms = tf.tidy(() => tf.stack(layers.map((l) => tf.mean(tf.square(tensors[l])))));
  const values = await ms.data();
  ms.dispose();
  return Object.fromEntries(layers.map((l, i) => [l, 1 / Math.max(values[i], 1e-12)]));
}

/**
 * The targets of a whole-image stage from RGB 0..255 images: the content's
 * activations at the content layers; Σᵢ bᵢ·Gram(styleᵢ) per style layer, the
 * blend weights normalised to sum to one. The caller owns the tensors.
 */
export async function stageTargets(
  executor: Executor,
  network: FeatureNetwork,
  content: tf.Tensor4D,
  styles: readonly tf.Tensor4D[],
  blend: readonly number[],
  loss: LossDescription,
): Promise<StageTargets> {
  const total = blend.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error("style blend weights must not all be zero");
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
  const targets: StageTargets = { content: {}, grams: {}, contentScales: {}, styleScales: {} };
  try {
    if (contentLayers.length) {
      targets.content = measure(content, { features: contentLayers }).features;
    }
    for (const [i, style] of (styleLayers.length ? styles : []).entries()) {
      const { gramSums, squareSums, mapSizes } = measure(style, { grams: styleLayers });
      tf.dispose(Object.values(squareSums));
      const grams: Grams = targets.grams;
      for (const layer of styleLayers) {
        const weighted = tf.tidy(() => tf.mul(gramSums[layer], blend[i] / total / mapSizes[layer]));
        gramSums[layer].dispose();
        const sum = grams[layer];
        grams[layer] = (sum ? tf.add(sum, weighted) : weighted) as tf.Tensor2D;
        if (sum) tf.dispose([sum, weighted]);
      }
    }
    if (loss.normalize) {
      targets.contentScales = await inverseMeanSquares(targets.content);
      targets.styleScales = await inverseMeanSquares(targets.grams);
    }
    return targets;
  } catch (error) {
    disposeTargets(targets);
    throw error;
  }
}

/** Frees a stage's target tensors. */
export function disposeTargets(targets: { content: unknown; grams: Grams } | undefined): void {
  if (!targets) return;
  const content = targets.content instanceof Object && !("data" in targets.content)
    ? Object.values(targets.content as Record<string, tf.Tensor>)
    : [];
  tf.dispose([...content, ...Object.values(targets.grams)]);
}
