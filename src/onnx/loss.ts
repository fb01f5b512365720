/**
 * @module The loss terms as ONNX nodes: each term's value and its gradient,
 * side by side, one emitter per term kind ({@linkcode TERMS}).
 *
 * The graph depends only on the terms' kinds, layers and whether they carry a
 * mask; the numbers (coefficients, targets, seeds, masks) arrive as inputs, so
 * one session serves every weighting and every tile of a stage.
 */
import { type Term, TERM_GROUP } from "../loss/terms.ts";
import type { GraphBuilder } from "./builder.ts";
import type { Blob } from "./network.ts";

/** Input: every term's coefficients, in term order (`tv` has two: down, right). */
export const COEFFICIENTS = "coefficients";

/** Input names of term `i`'s target, seed and mask. */
export const termInput = (i: number, what: "target" | "seed" | "mask"): string =>
  `term${i}:${what}`;

/** How many coefficients a term of this shape takes. */
export function coefficientCount(term: Pick<TermShape, "kind" | "masked">): number {
  return term.kind === "tv" || (term.kind === "style" && term.masked) ? 2 : 1;
}

/** A term's coefficients, in the order its emitter reads them. */
export function termCoefficients(term: Term): number[] {
  switch (term.kind) {
    case "tv":
      return [term.down, term.right];
    case "styleSeed":
      return [0.5];
    case "style":
      // A guided Gram divides by the region's mass·c, which changes with the mask.
      return term.mask ? [term.weight, 1 / (term.mass! * term.target.shape[0])] : [term.weight];
    default:
      return [term.weight];
  }
}

/** What an emitter gets: the builder, the term's features (NCHW) or the image (NHWC), and its inputs. */
interface EmitContext {
  g: GraphBuilder;
  /** The layer's activation (NCHW), for terms on a layer. */
  f?: Blob;
  /** The image (NHWC), for pixel terms. */
  x: Blob;
  /** Coefficient `j` of this term, a `[1]` value. */
  coef(j: number): string;
  /** Declares this term's input `what` of `shape`. */
  input(what: "target" | "seed" | "mask", shape: readonly number[]): string;
  masked: boolean;
}

/** A term's value (`[]`-shaped) and its gradient at its layer (NCHW) or at the image (NHWC). */
interface Emitted {
  value: string;
  featureGrad?: string;
  imageGrad?: string;
}

/** The Gram matrix FFᵀ·alpha of a `[1, C, H, W]` blob, and F as `[C, H·W]`. */
export function gram(g: GraphBuilder, f: Blob, alpha: number): { gram: string; flat: string } {
  const [, c, h, w] = f.shape;
  const flat = g.node("Reshape", [f.name, g.int64([c, h * w])]);
  return { gram: g.node("Gemm", [flat, flat], { transB: 1, alpha: { f: alpha } }), flat };
}

/** F ⊙ mask, where the term has a mask (`[1, 1, h, w]`, broadcast over channels). */
function maskedBlob(ctx: EmitContext, f: Blob): { blob: Blob; mask?: string } {
  if (!ctx.masked) return { blob: f };
  const [, , h, w] = f.shape;
  const mask = ctx.input("mask", [1, 1, h, w]);
  return { blob: { name: ctx.g.node("Mul", [f.name, mask]), shape: f.shape }, mask };
}

/** Each term kind's value and gradient; see `src/loss/terms.ts` for what each computes. */
const TERMS: Record<Term["kind"], (ctx: EmitContext) => Emitted> = {
  // weight · Σ m(F - T)²; ∂/∂F = 2·weight·m(F - T).
  content(ctx) {
    const { g } = ctx;
    const f = ctx.f!;
    const [, c, h, w] = f.shape;
    const target = g.node("Transpose", [ctx.input("target", [1, h, w, c])], { perm: [0, 3, 1, 2] });
    const diff = g.node("Sub", [f.name, target]);
    const weighted = ctx.masked ? g.node("Mul", [diff, ctx.input("mask", [1, 1, h, w])]) : diff;
    return {
      value: g.node("Mul", [
        g.node("ReduceSum", [g.node("Mul", [weighted, diff])], { keepdims: 0 }),
        ctx.coef(0),
      ]),
      featureGrad: g.node("Mul", [weighted, g.node("Mul", [ctx.coef(0), g.scalar(2)])]),
    };
  },
  // weight · Σ(G - T)², G = FₘFₘᵀ/k (Fₘ = F ⊙ m; k = h·w·c, or mass·c with a mask);
  // ∂/∂G = 2·weight(G - T), ∂/∂F = m ⊙ (∂G + ∂Gᵀ)Fₘ/k = m ⊙ 2·∂G·Fₘ/k.
  style(ctx) {
    const { g } = ctx;
    const f = ctx.f!;
    const [, c, h, w] = f.shape;
    const { blob, mask } = maskedBlob(ctx, f);
    // Unmasked, k is fixed by the shape and folds into the matrix products.
    const k = c * h * w;
    const { gram: product, flat } = gram(g, blob, mask ? 1 : 1 / k);
    const gm = mask ? g.node("Mul", [product, ctx.coef(1)]) : product;
    const diff = g.node("Sub", [gm, ctx.input("target", [c, c])]);
    const dGram = g.node("Mul", [diff, g.node("Mul", [ctx.coef(0), g.scalar(2)])]);
    const dFlat = mask
      ? g.node("Mul", [g.node("MatMul", [dGram, flat]), g.node("Mul", [ctx.coef(1), g.scalar(2)])])
      : g.node("Gemm", [dGram, flat], { alpha: { f: 2 / k } });
    let grad = g.node("Reshape", [dFlat, g.int64([1, c, h, w])]);
    if (mask) grad = g.node("Mul", [grad, mask]);
    return {
      value: g.node("Mul", [g.node("ReduceSumSquare", [diff], { keepdims: 0 }), ctx.coef(0)]),
      featureGrad: grad,
    };
  },
  // ½ Σ(FₘFₘᵀ ⊙ S), Fₘ = F ⊙ m; ∂/∂F = m ⊙ (S·Fₘ) for a symmetric seed S.
  styleSeed(ctx) {
    const { g } = ctx;
    const f = ctx.f!;
    const [, c, h, w] = f.shape;
    const { blob, mask } = maskedBlob(ctx, f);
    const { gram: gm, flat } = gram(g, blob, 1);
    const seed = ctx.input("seed", [c, c]);
    let grad = g.node("Reshape", [g.node("MatMul", [seed, flat]), g.int64([1, c, h, w])]);
    if (mask) grad = g.node("Mul", [grad, mask]);
    return {
      value: g.node("Mul", [
        g.node("ReduceSum", [g.node("Mul", [gm, seed])], { keepdims: 0 }),
        ctx.coef(0),
      ]),
      featureGrad: grad,
    };
  },
  // Σ over both directions of weight · Σ m(x[i+1] - x[i])²; d/dx[i] = 2(m·d)[i-1] - 2(m·d)[i].
  tv(ctx) {
    const { g, x } = ctx;
    const [, h, w] = x.shape;
    const mask = ctx.masked ? ctx.input("mask", [1, h, w, 1]) : undefined;
    const direction = (axis: 1 | 2, coef: string) => {
      const size = x.shape[axis];
      const slice = (from: string, start: number, end: number) =>
        g.node("Slice", [from, g.int64([start]), g.int64([end]), g.int64([axis])]);
      const diff = g.node("Sub", [slice(x.name, 1, size), slice(x.name, 0, size - 1)]);
      const weighted = mask ? g.node("Mul", [diff, slice(mask, 0, size - 1)]) : diff;
      const d = g.node("Mul", [weighted, g.node("Mul", [coef, g.scalar(2)])]);
      const pad = (before: boolean) => {
        const pads = [0, 0, 0, 0, 0, 0, 0, 0];
        pads[before ? axis : 4 + axis] = 1;
        return g.node("Pad", [d, g.int64(pads)]);
      };
      return {
        value: g.node("Mul", [
          g.node("ReduceSum", [g.node("Mul", [weighted, diff])], { keepdims: 0 }),
          coef,
        ]),
        grad: g.node("Sub", [pad(true), pad(false)]),
      };
    };
    const parts = [
      ...(h > 1 ? [direction(1, ctx.coef(0))] : []),
      ...(w > 1 ? [direction(2, ctx.coef(1))] : []),
    ];
    if (parts.length === 0) return { value: g.float([0], []) };
    return {
      value: parts.length === 1 ? parts[0].value : g.node("Add", parts.map((p) => p.value)),
      imageGrad: parts.length === 1 ? parts[0].grad : g.node("Add", parts.map((p) => p.grad)),
    };
  },
};

/** What the loss graph yields. */
export interface LossGraph {
  /** `[total, content, style, tv]`. */
  values: string;
  /** The loss's gradient at each feature blob (to be summed). */
  featureGrads: Map<string, string[]>;
  /** The pixel terms' gradient at the image (NHWC), when there are any. */
  imageGrads: string[];
}

/** What the graph of a term list depends on. */
export type TermShape = Pick<Term, "kind"> & { layer?: string; masked: boolean };

/** The graph-relevant part of `terms`: kinds, layers and whether each has a mask. */
export function termShapes(terms: readonly Term[]): TermShape[] {
  return terms.map((t) => ({
    kind: t.kind,
    ...("layer" in t ? { layer: t.layer } : {}),
    masked: "mask" in t && t.mask !== undefined,
  }));
}

/**
 * Emits `terms` over `features` (NCHW blobs by layer) and the image `x` (NHWC), with
 * their gradients; declares the coefficient, target, seed and mask inputs.
 */
export function buildLoss(
  g: GraphBuilder,
  features: ReadonlyMap<string, Blob>,
  terms: readonly TermShape[],
  x: Blob,
): LossGraph {
  const count = terms.reduce((n, t) => n + coefficientCount(t), 0);
  const coefs = count > 0 ? g.input(COEFFICIENTS, [count]) : "";
  const groups: string[][] = [[], [], [], []];
  const featureGrads = new Map<string, string[]>();
  const imageGrads: string[] = [];
  let offset = 0;
  terms.forEach((term, i) => {
    const first = offset;
    offset += coefficientCount(term);
    const emitted = TERMS[term.kind]({
      g,
      f: term.layer === undefined ? undefined : features.get(term.layer),
      x,
      masked: term.masked,
      coef: (j) =>
        g.node("Slice", [coefs, g.int64([first + j]), g.int64([first + j + 1]), g.int64([0])]),
      input: (what, shape) => g.input(termInput(i, what), shape),
    });
    groups[TERM_GROUP[term.kind]].push(emitted.value);
    if (emitted.featureGrad) {
      featureGrads.set(term.layer!, [...featureGrads.get(term.layer!) ?? [], emitted.featureGrad]);
    }
    if (emitted.imageGrad) imageGrads.push(emitted.imageGrad);
  });
  const sum = (values: string[]) =>
    values.length === 0
      ? g.float([0], [1])
      : g.node("Reshape", [values.length === 1 ? values[0] : g.node("Sum", values), g.int64([1])]);
  const [content, style, tv] = [sum(groups[1]), sum(groups[2]), sum(groups[3])];
  const total = g.node("Sum", [content, style, tv]);
  return {
    values: g.node("Concat", [total, content, style, tv], { axis: 0 }),
    featureGrads,
    imageGrads,
  };
}
