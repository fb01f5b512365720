/**
 * @module The objective and the feature measurements as ONNX Runtime sessions.
 *
 * `objectiveModel` writes the network's forward pass to the deepest layer used,
 * the loss terms and the image-gradient as one graph; `measureModel` the forward
 * pass to the features and Gram sums that targets are made of. Sessions are
 * cached by network, image size and the terms' shapes (kinds, layers, masks), so
 * a stage re-uses its sessions for every evaluation and every tile.
 */
import type { GraphLayer } from "../net/graph.ts";
import { GraphBuilder } from "./builder.ts";
import { buildLoss, gram, type TermShape } from "./loss.ts";
import { backward, type Blob, forward } from "./network.ts";
import { OrtSession } from "./runtime.ts";

/** The graphs' image input (`[1, h, w, 3]`, preprocessed) and the objective's outputs. */
export const X = "x";
export const VALUES = "values";
export const GRAD = "grad";

/** Output names of the measurements. */
export const featuresOutput = (layer: string): string => `features:${layer}`;
export const gramSumOutput = (layer: string): string => `gramSum:${layer}`;
export const squareSumOutput = (layer: string): string => `squareSum:${layer}`;
/** Input name of a measured layer's mask. */
export const measureMask = (layer: string): string => `mask:${layer}`;

/** Reads `x` (NHWC) and transposes it to the NCHW blob the network reads. */
function imageInput(g: GraphBuilder, [h, w]: readonly [number, number]): { x: Blob; data: Blob } {
  const x = { name: g.input(X, [1, h, w, 3]), shape: [1, h, w, 3] };
  const data = { name: g.node("Transpose", [x.name], { perm: [0, 3, 1, 2] }), shape: [1, 3, h, w] };
  return { x, data };
}

/**
 * The objective graph of `graph` at `size` for terms shaped `terms`: inputs `x`, the
 * terms' coefficients, targets, seeds and masks; outputs `values`
 * (`[total, content, style, tv]`) and `grad` (∇ₓ total, NHWC).
 */
export function objectiveModel(
  graph: readonly GraphLayer[],
  size: readonly [number, number],
  terms: readonly TermShape[],
): Uint8Array {
  const g = new GraphBuilder();
  const { x, data } = imageInput(g, size);
  const layers = [...new Set(terms.flatMap((t) => t.layer === undefined ? [] : [t.layer]))];
  const fwd = forward(g, graph, data, layers, true);
  const loss = buildLoss(g, fwd.blobs, terms, x);
  const grads = [...loss.imageGrads];
  if (loss.featureGrads.size > 0) {
    grads.push(g.node("Transpose", [backward(g, fwd, loss.featureGrads)], { perm: [0, 2, 3, 1] }));
  }
  if (grads.length === 0) throw new Error("the loss does not depend on the image");
  g.output(loss.values, VALUES, [4]);
  g.output(grads.length === 1 ? grads[0] : g.node("Sum", grads), GRAD, [1, ...size, 3]);
  return g.encode("restyle-objective");
}

/** What a measurement graph computes: activations of `features`, Gram and square sums of `grams`. */
export interface MeasureShape {
  features: readonly string[];
  grams: readonly string[];
  /** Whether the `grams` layers are masked (one mask input each). */
  masked: boolean;
}

/**
 * The measurement graph of `graph` at `size`: input `x` (and `mask:<layer>` when
 * masked); outputs `features:<layer>` (NHWC), `gramSum:<layer>` (Σ FₘᵀFₘ) and
 * `squareSum:<layer>` (Σ Fₘ²).
 */
export function measureModel(
  graph: readonly GraphLayer[],
  size: readonly [number, number],
  shape: MeasureShape,
): Uint8Array {
  const g = new GraphBuilder();
  const { data } = imageInput(g, size);
  const fwd = forward(g, graph, data, [...new Set([...shape.features, ...shape.grams])], false);
  for (const layer of shape.features) {
    const f = fwd.blobs.get(layer)!;
    const [, c, h, w] = f.shape;
    g.output(g.node("Transpose", [f.name], { perm: [0, 2, 3, 1] }), featuresOutput(layer), [
      1,
      h,
      w,
      c,
    ]);
  }
  for (const layer of shape.grams) {
    let f = fwd.blobs.get(layer)!;
    const [, c, h, w] = f.shape;
    if (shape.masked) {
      f = {
        name: g.node("Mul", [f.name, g.input(measureMask(layer), [1, 1, h, w])]),
        shape: f.shape,
      };
    }
    const { gram: sums, flat } = gram(g, f, 1);
    g.output(sums, gramSumOutput(layer), [c, c]);
    g.output(g.node("ReduceSumSquare", [flat], { keepdims: 0 }), squareSumOutput(layer), []);
  }
  return g.encode("restyle-measure");
}

/** How many sessions stay loaded (each holds its own copy of the weights and its buffers). */
const MAX_SESSIONS = 6;

/**
 * Compiled sessions of one network's graph, least recently used first out.
 * Sessions are made on first use and rebuilt if the cache let them go.
 */
export class SessionCache {
  readonly #sessions = new Map<string, OrtSession>();

  /** The session of `key`, made by `model` on first use. */
  get(key: string, model: () => Uint8Array): OrtSession {
    let found = this.#sessions.get(key);
    if (found) {
      this.#sessions.delete(key);
    } else {
      found = new OrtSession(model());
      while (this.#sessions.size >= MAX_SESSIONS) {
        const [oldest, old] = this.#sessions.entries().next().value!;
        this.#sessions.delete(oldest);
        old.dispose();
      }
    }
    this.#sessions.set(key, found);
    return found;
  }

  /** Frees every session. */
  clear(): void {
    for (const s of this.#sessions.values()) s.dispose();
    this.#sessions.clear();
  }
}
