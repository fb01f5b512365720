/**
 * @module The objective as data: the terms one evaluation sums, each with its
 * coefficient, its target and, where it applies, a mask over positions.
 *
 * Every executor (`src/executors/`) evaluates a list of these terms, value and
 * image-gradient, with one emitter per term kind; nothing else in Restyle
 * computes a loss. A whole stage's list is the Gatys objective
 * ({@linkcode wholeImageTerms}); a tiled stage evaluates each tile's share of
 * it with masks on the positions the tile owns and the style term made linear
 * (`styleSeed`, see `src/executors/tiled.ts`).
 *
 * Adding a term: one kind here, one emitter per executor (`tfjs.ts`'s
 * `TERMS`, `src/onnx/loss.ts`'s `TERMS`), and where the description builds it.
 */
import type * as tf from "@tensorflow/tfjs";
import type { LayerWeights } from "../net/network.ts";

/**
 * A position mask `[1, h, w, 1]` of a layer's map (or of the image's pixels for
 * `tv`): each position's share of the term, 1 for all of it, 0 for none.
 */
export type Mask = tf.Tensor4D;

/** `weight · Σ mask · (F − T)²` over layer `layer`'s map (NHWC `target`, the same shape as F). */
export interface ContentTerm {
  /** Which term this is. */
  kind: "content";
  /** The layer whose activations are compared. */
  layer: string;
  /** Everything the sum is multiplied by: term and layer weight, normalisation, 1 / the map's size. */
  weight: number;
  /** The content's activations at `layer` (NHWC, the same shape as the image's). */
  target: tf.Tensor4D;
  /** Each position's share; all of every position without one. */
  mask?: Mask;
}

/**
 * `weight · Σ (G − T)²` over the `c`x`c` Gram matrix of layer `layer`'s map: G = FᵀF / (h·w·c),
 * or with a mask the guided Gram G = FₘᵀFₘ / (mass·c), Fₘ = F ⊙ mask (Gatys et al. 2017's
 * spatial control: the style of the masked region alone).
 */
export interface StyleTerm {
  /** Which term this is. */
  kind: "style";
  /** The layer whose Gram matrix is compared. */
  layer: string;
  /** Term and layer weight, normalisation and 1 / c². */
  weight: number;
  /** The style's Gram at `layer`, `[c, c]`. */
  target: tf.Tensor2D;
  /** Where the style paints, at `layer`'s resolution; everywhere without one. */
  mask?: Mask;
  /** Σ mask² over the map: the region's size in positions (what the guided Gram divides by). */
  mass?: number;
}

/**
 * `½ · Σ (FₘᵀFₘ ⊙ seed)` with Fₘ = F ⊙ mask: linear in the Gram, so a tile's share of
 * the style term's gradient. With `seed` = 2·∂L/∂G / k its gradient is the style
 * loss's own at the tile's positions (its value is not the loss's).
 */
export interface StyleSeedTerm {
  /** Which term this is. */
  kind: "styleSeed";
  /** The layer whose masked Gram sum is weighed. */
  layer: string;
  /** The symmetric `[c, c]` matrix M the Gram sum is weighed by. */
  seed: tf.Tensor2D;
  /** The positions whose features count (a tile's own); all without one. */
  mask?: Mask;
}

/**
 * Total variation: `down · Σ mask · (x[i+1, j] − x[i, j])² + right · Σ mask · (x[i, j+1] − x[i, j])²`
 * over the image's pixel pairs, the mask read at each pair's first pixel.
 */
export interface TvTerm {
  /** Which term this is. */
  kind: "tv";
  /** Coefficient of the vertical pairs' squared differences. */
  down: number;
  /** Coefficient of the horizontal pairs' squared differences. */
  right: number;
  /** Each pixel's share of the pairs it starts; all of every pair without one. */
  mask?: Mask;
}

/** One term of an evaluation. */
export type Term = ContentTerm | StyleTerm | StyleSeedTerm | TvTerm;

/** Which of the reported sums a term adds to: `[total, content, style, tv]`. */
export const TERM_GROUP: Record<Term["kind"], 1 | 2 | 3> = {
  content: 1,
  style: 2,
  styleSeed: 2,
  tv: 3,
};

/** What a run's loss is made of, after its options are laid over the network's preset. */
export interface LossDescription {
  /** Content layers (weight above 0) and their weights; empty when the content term is off. */
  contentLayers: LayerWeights;
  /** Style layers (weight above 0) and their weights; empty when the style term is off. */
  styleLayers: LayerWeights;
  /** Multiplier of the content term. */
  contentWeight: number;
  /** Multiplier of the style term (`strength` already applied). */
  styleWeight: number;
  /** Multiplier of the total-variation term; 0 turns it off. */
  tvWeight: number;
  /** Divide each layer's content and style loss by its target's mean square. */
  normalize: boolean;
}

/** Layer name -> activation `[1, h, w, c]`. */
export type Features = Record<string, tf.Tensor4D>;
/** Layer name -> Gram matrix `[c, c]`. */
export type Grams = Record<string, tf.Tensor2D>;
/** Layer name -> constant factor on that layer's loss (1 / its target's mean square when normalising). */
export type LayerScales = Record<string, number>;

/** A style layer's region: a mask of its map (`[1, h, w, 1]`) and the mask's mass, Σ mask². */
export interface RegionMask {
  /** The region's share of each position of the layer's map. */
  mask: Mask;
  /** Σ mask² over the map. */
  mass: number;
}

/**
 * What one style paints towards: its (blended) Grams and their normalisation, and, with
 * spatial control, the region it paints at each style layer.
 */
export interface StyleTarget {
  /** The Gram at each style layer (several style images blended, when they share a region). */
  grams: Grams;
  /** Each style layer's normalisation (1 / its Gram's mean square), when the preset normalises. */
  scales: LayerScales;
  /** Where it paints, per style layer; the whole image without. */
  region?: Record<string, RegionMask>;
}

/** What one stage optimises towards: content activations and the styles' targets. */
export interface StageTargets {
  /** The content's activations at each content layer. */
  content: Features;
  /** Each content layer's normalisation (1 / its target's mean square), when the preset normalises. */
  contentScales: LayerScales;
  /** One style target per region (one for the whole image without masks). */
  styles: StyleTarget[];
}

/** The layers a description evaluates: content layers, then style layers not already listed. */
export function lossLayers(loss: LossDescription): string[] {
  return [...new Set([...Object.keys(loss.contentLayers), ...Object.keys(loss.styleLayers)])];
}

/**
 * The terms of the Gatys objective for a whole `h`x`w` image: per content layer
 * the mean squared error to its target, per style (region) and style layer the
 * mean squared error of its Gram to the target's, and the mean squared difference
 * of neighbouring pixels; each times its weights and normalisation scale.
 */
export function wholeImageTerms(
  loss: LossDescription,
  targets: StageTargets,
  [h, w]: readonly [number, number],
): Term[] {
  const terms: Term[] = [];
  for (const [layer, weight] of Object.entries(loss.contentLayers)) {
    const target = targets.content[layer];
    const scale = loss.contentWeight * weight * (targets.contentScales[layer] ?? 1);
    terms.push({ kind: "content", layer, weight: scale / target.size, target });
  }
  for (const style of targets.styles) {
    for (const [layer, weight] of Object.entries(loss.styleLayers)) {
      const target = style.grams[layer];
      const scale = loss.styleWeight * weight * (style.scales[layer] ?? 1);
      terms.push({
        kind: "style",
        layer,
        weight: scale / target.size,
        target,
        ...style.region?.[layer],
      });
    }
  }
  if (loss.tvWeight > 0) terms.push(tvTerm(loss.tvWeight, [h, w]));
  return terms;
}

/** The TV term of an `h`x`w` image: each direction's squared differences over its pair count. */
export function tvTerm(weight: number, [h, w]: readonly [number, number], mask?: Mask): TvTerm {
  return {
    kind: "tv",
    down: h > 1 ? weight / ((h - 1) * w * 3) : 0,
    right: w > 1 ? weight / (h * (w - 1) * 3) : 0,
    mask,
  };
}
