/**
 * @module What runs the objective: one interface, one implementation per runtime.
 *
 * An executor answers two questions about a network and a preprocessed image
 * (`[1, h, w, 3]`, the network's input space): what its features are
 * ({@linkcode Executor.measure}: activations for content targets, Gram sums for
 * style targets), and what a list of loss terms ({@linkcode Term}) sums to,
 * with the image-gradient ({@linkcode Executor.evaluate}). `tfjs.ts` runs them
 * on TensorFlow.js (wasm, WebGPU, cpu), `onnx.ts` as ONNX Runtime graphs; the
 * tiled objective (`tiled.ts`) is built from the same two calls, so it runs on
 * either. The engine picks one per run and passes it down.
 */
import type * as tf from "@tensorflow/tfjs";
import type { Features, Mask, Term } from "../loss/terms.ts";

/**
 * One evaluation of an objective at a point. `values[0]` is the value minimised;
 * further entries (the loss terms) are read back with it. Whoever receives it owns both.
 */
export interface Evaluation {
  /** The value minimised first, then any terms reported with it. */
  values: tf.Tensor1D;
  /** The gradient of `values[0]` with respect to the point. */
  grad: tf.Tensor;
}

/**
 * An objective over host memory: writes ∇f(x) into `grad` and resolves to the values
 * (`[0]` is minimised). For stages whose image-sized vectors stay off the device.
 */
export type HostObjective = (x: Float32Array, grad: Float32Array) => Promise<number[]>;

/** What {@linkcode Executor.measure} computes. */
export interface MeasureRequest {
  /** Layers whose activations to return (NHWC). */
  features?: readonly string[];
  /** Layers whose Gram sums to return: Σ FₘᵀFₘ and Σ Fₘ², with Fₘ = F ⊙ `masks[layer]` (F without one). */
  grams?: readonly string[];
  /** Position masks of the `grams` layers' maps (see {@linkcode Mask}). */
  masks?: Readonly<Record<string, Mask>>;
}

/** The answer of {@linkcode Executor.measure}; the caller owns (and frees) every tensor. */
export interface Measured {
  /** Activations of the `features` layers (NHWC). */
  features: Features;
  /** Σ FₘᵀFₘ per layer, `[c, c]`: not yet divided by the map's size. */
  gramSums: Record<string, tf.Tensor2D>;
  /** Σ Fₘ² per layer. */
  squareSums: Record<string, tf.Scalar>;
  /** h·w·c of each Gram layer's map (what divides a sum into a Gram or a mean square). */
  mapSizes: Record<string, number>;
}

/** A runtime that evaluates a network's features and loss terms. */
export interface Executor {
  /** Which runtime: `tfjs` (on the active tfjs backend) or `onnx`. */
  readonly name: "tfjs" | "onnx";
  /** Compiles a graph per input size: tiles should then share one crop size. */
  readonly fixedShapes: boolean;
  /**
   * Reads the image back to host memory at every evaluation (a native runtime beside tfjs):
   * the optimiser's vectors then belong in host memory too, not in tfjs ops on its backend.
   */
  readonly hostMemory: boolean;
  /** Features of the preprocessed image `x` (the caller's still). */
  measure(x: tf.Tensor4D, request: MeasureRequest): Measured;
  /**
   * Σ of `terms` at the preprocessed image `x` and its gradient: `values` is
   * `[total, content, style, tv]` (each group's terms summed), `grad` ∇ₓ total.
   */
  evaluate(x: tf.Tensor4D, terms: readonly Term[]): Evaluation;
  /** Frees what the executor caches (compiled graphs); it stays usable. */
  release(): void;
}
