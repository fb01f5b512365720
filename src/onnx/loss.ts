/**
 * @module The loss part of the objective graph: content, style (Gram) and TV
 * terms of `src/engine/losses.ts`, with their gradients written out.
 *
 * The graph depends only on which layers and terms are on; the per-layer
 * factors (term weight × layer weight × normalisation scale) arrive as the
 * input {@linkcode COEFFICIENTS}, so one session serves every weighting.
 */
import type { LossSetup } from "../engine/losses.ts";
import type { LayerScales } from "../engine/losses.ts";
import type { GraphBuilder } from "./builder.ts";
import type { Blob } from "./network.ts";

/** Input: per-layer factors, content layers first, then style layers, then TV. */
export const COEFFICIENTS = "coefficients";

/** Input name of a content target (NHWC, as the tfjs path holds it). */
export function contentInput(layer: string): string {
  return `content:${layer}`;
}

/** Input name of a style target Gram `[c, c]`. */
export function gramInput(layer: string): string {
  return `gram:${layer}`;
}

/** Input: SWAG's temperature τ per layer of {@linkcode smoothedLayers}, when the softmax is on. */
export const TEMPERATURES = "temperatures";

/** SWAG's smoothing `N·softmax(F/τ)`: over all N activations of a layer, or over its channels at each position. */
export type Softmax = "all" | "channels";

/** Which terms the graph computes. */
export interface LossSpec {
  /** SWAG's softmax smoothing of the compared activations, when on. */
  softmax?: Softmax;
  /** Content layers (empty: no content term). */
  content: readonly string[];
  /** Style layers (empty: no style term). */
  style: readonly string[];
  /** Whether the total-variation term is on. */
  tv: boolean;
}

/** The terms a loss set-up switches on (a term with weight 0 is left out of the graph). */
export function lossSpec(setup: LossSetup): LossSpec {
  // `softmax` arrives with SWAG's smoothing in `LossSetup` ({ temperature, over? }).
  const swag = (setup as LossSetup & { softmax?: { over?: Softmax } }).softmax;
  return {
    ...(swag ? { softmax: swag.over ?? "all" } : {}),
    content: setup.contentWeight > 0 ? Object.keys(setup.contentLayers) : [],
    style: setup.styleWeight > 0 ? Object.keys(setup.styleLayers) : [],
    tv: setup.tvWeight > 0,
  };
}

/** The {@linkcode COEFFICIENTS} input of a set-up and its layers' normalisation scales. */
export function coefficients(
  spec: LossSpec,
  setup: LossSetup,
  contentScales: LayerScales,
  styleScales: LayerScales,
): Float32Array {
  return Float32Array.from([
    ...spec.content.map((l) =>
      setup.contentWeight * setup.contentLayers[l] * (contentScales[l] ?? 1)
    ),
    ...spec.style.map((l) => setup.styleWeight * setup.styleLayers[l] * (styleScales[l] ?? 1)),
    setup.tvWeight,
  ]);
}

/** The layers the softmax smooths, in the order of the {@linkcode TEMPERATURES} input. */
export function smoothedLayers(content: readonly string[], style: readonly string[]): string[] {
  return [...new Set([...content, ...style])];
}

/**
 * SWAG's `S = n·softmax(F/τ)` of a `[1, C, H, W]` blob (n = C·H·W over `all`, C over
 * `channels`, per position), and its backward: given dL/dS, dL/dF =
 * (n/τ)·s ⊙ (dS - Σ(dS ⊙ s)), the softmax's Jacobian-vector product (s = S/n).
 */
export function smoothing(
  g: GraphBuilder,
  f: Blob,
  temperature: string,
  over: Softmax,
): { value: string; backward: (dS: string) => string } {
  const [, c, h, w] = f.shape;
  const n = over === "all" ? c * h * w : c;
  const scaled = g.node("Div", [f.name, temperature]);
  const s = over === "all"
    ? g.node("Reshape", [
      g.node("Softmax", [g.node("Reshape", [scaled, g.int64([1, n])])], { axis: 1 }),
      g.int64([1, c, h, w]),
    ])
    : g.node("Softmax", [scaled], { axis: 1 });
  return {
    value: g.node("Mul", [s, g.scalar(n)]),
    backward: (dS) => {
      const weighted = g.node("Mul", [dS, s]);
      const total = over === "all"
        ? g.node("ReduceSum", [weighted], { keepdims: 1 })
        : g.node("ReduceSum", [weighted, g.int64([1])], { keepdims: 1 });
      const jvp = g.node("Mul", [s, g.node("Sub", [dS, total])]);
      return g.node("Mul", [jvp, g.node("Div", [g.scalar(n), temperature])]);
    },
  };
}

/** The Gram matrix FFᵀ/(C·H·W) of a `[1, C, H, W]` blob, and F as `[C, H·W]`. */
export function gram(g: GraphBuilder, f: Blob): { gram: string; flat: string; k: number } {
  const [, c, h, w] = f.shape;
  const flat = g.node("Reshape", [f.name, g.int64([c, h * w])]);
  const k = c * h * w;
  return { gram: g.node("Gemm", [flat, flat], { transB: 1, alpha: { f: 1 / k } }), flat, k };
}

/** What the loss graph yields. */
export interface LossGraph {
  /** `[total, content, style, tv]`, each already weighted. */
  values: string;
  /** The loss's gradient at each feature blob (to be summed). */
  featureGrads: Map<string, string[]>;
  /** The TV term's gradient at the image (NHWC), when TV is on. */
  imageGrad?: string;
}

/**
 * Emits the losses of `spec` over `features` (NCHW blobs by layer) and the
 * image `x` (NHWC), with their gradients; declares the target and coefficient inputs.
 */
export function buildLoss(
  g: GraphBuilder,
  features: ReadonlyMap<string, Blob>,
  spec: LossSpec,
  x: Blob,
): LossGraph {
  const count = spec.content.length + spec.style.length + 1;
  const coefs = g.input(COEFFICIENTS, [count]);
  const coef = (i: number) =>
    g.node("Slice", [coefs, g.int64([i]), g.int64([i + 1]), g.int64([0])]);
  // The activations compared: the features, or their SWAG smoothing.
  const compared = new Map(features);
  const backwards = new Map<string, (dS: string) => string>();
  if (spec.softmax) {
    const layers = smoothedLayers(spec.content, spec.style);
    const temps = g.input(TEMPERATURES, [layers.length]);
    layers.forEach((layer, i) => {
      const tau = g.node("Slice", [temps, g.int64([i]), g.int64([i + 1]), g.int64([0])]);
      const f = features.get(layer)!;
      const t = smoothing(g, f, tau, spec.softmax!);
      compared.set(layer, { name: t.value, shape: f.shape });
      backwards.set(layer, t.backward);
    });
  }
  const comparedGrads = new Map<string, string[]>();
  const addGrad = (layer: string, grad: string) =>
    comparedGrads.set(layer, [...comparedGrads.get(layer) ?? [], grad]);
  const zero = () => g.float([0], [1]);
  const sum = (terms: string[]) =>
    terms.length === 0 ? zero() : terms.length === 1 ? terms[0] : g.node("Sum", terms);

  // Content: s·mean((F - T)²), gradient 2s(F - T)/N.
  const content = spec.content.map((layer, i) => {
    const f = compared.get(layer)!;
    const [, c, h, w] = f.shape;
    const target = g.node("Transpose", [g.input(contentInput(layer), [1, h, w, c])], {
      perm: [0, 3, 1, 2],
    });
    const diff = g.node("Sub", [f.name, target]);
    const scale = g.node("Mul", [coef(i), g.scalar(1 / (c * h * w))]);
    addGrad(layer, g.node("Mul", [diff, g.node("Mul", [scale, g.scalar(2)])]));
    return g.node("Mul", [g.node("ReduceSumSquare", [diff], { keepdims: 0 }), scale]);
  });

  // Style: s·mean((G - Gₜ)²) over the c×c Gram; dG = 2s(G - Gₜ)/c², dF = (dG + dGᵀ)F/k = 2·dG·F/k.
  const style = spec.style.map((layer, i) => {
    const f = compared.get(layer)!;
    const [, c, h, w] = f.shape;
    const { gram: gm, flat, k } = gram(g, f);
    const diff = g.node("Sub", [gm, g.input(gramInput(layer), [c, c])]);
    const scale = g.node("Mul", [coef(spec.content.length + i), g.scalar(1 / (c * c))]);
    const dGram = g.node("Mul", [diff, g.node("Mul", [scale, g.scalar(2)])]);
    const dFlat = g.node("Gemm", [dGram, flat], { alpha: { f: 2 / k } });
    addGrad(layer, g.node("Reshape", [dFlat, g.int64([1, c, h, w])]));
    return g.node("Mul", [g.node("ReduceSumSquare", [diff], { keepdims: 0 }), scale]);
  });

  let tv: string;
  let imageGrad: string | undefined;
  if (spec.tv) {
    const t = tvLoss(g, x);
    const s = coef(count - 1);
    tv = g.node("Mul", [t.value, s]);
    imageGrad = g.node("Mul", [t.grad, s]);
  } else {
    tv = zero();
  }
  const [contentTerm, styleTerm] = [sum(content), sum(style)];
  const total = g.node("Sum", [contentTerm, styleTerm, tv]);
  const values = g.node("Concat", [total, contentTerm, styleTerm, tv], { axis: 0 });
  const featureGrads = new Map<string, string[]>();
  for (const [layer, grads] of comparedGrads) {
    const back = backwards.get(layer);
    featureGrads.set(
      layer,
      back ? [back(grads.length === 1 ? grads[0] : g.node("Sum", grads))] : grads,
    );
  }
  return { values, featureGrads, imageGrad };
}

/**
 * Total variation of `x` (NHWC): mean squared difference of vertical plus of
 * horizontal neighbours, and its gradient.
 */
function tvLoss(g: GraphBuilder, x: Blob): { value: string; grad: string } {
  const [, h, w, c] = x.shape;
  const axis = (a: 1 | 2, size: number) => {
    const next = g.node("Slice", [x.name, g.int64([1]), g.int64([size]), g.int64([a])]);
    const prev = g.node("Slice", [x.name, g.int64([0]), g.int64([size - 1]), g.int64([a])]);
    const diff = g.node("Sub", [next, prev]);
    const n = (a === 1 ? (h - 1) * w : h * (w - 1)) * c;
    const d = g.node("Mul", [diff, g.scalar(2 / n)]);
    const pad = (before: number) => {
      const pads = [0, 0, 0, 0, 0, 0, 0, 0];
      pads[before ? a : 4 + a] = 1;
      return g.node("Pad", [d, g.int64(pads)]);
    };
    // d/dx[i] of Σ(x[i+1] - x[i])²/n: 2(x[i] - x[i-1])/n - 2(x[i+1] - x[i])/n.
    return {
      value: g.node("Mul", [g.node("ReduceSumSquare", [diff], { keepdims: 0 }), g.scalar(1 / n)]),
      grad: g.node("Sub", [pad(1), pad(0)]),
    };
  };
  const down = axis(1, h);
  const right = axis(2, w);
  return {
    value: g.node("Add", [down.value, right.value]),
    grad: g.node("Add", [down.grad, right.grad]),
  };
}
