/**
 * @module `tf.valueAndGrad` that frees what the forward pass saved when it throws.
 *
 * Under a gradient tape every op (and every `customGrad` `save()`) keeps clones
 * of the tensors its backward pass needs; tfjs frees them only after the
 * backward pass has run. A forward pass that throws half-way (a layer that
 * fails, an abort, a wasm error) leaves those clones kept for good: a few
 * tensors per failed evaluation. This wrapper frees them.
 */
import * as tf from "@tensorflow/tfjs";

/** What the engine keeps per recorded op (tfjs's internal `TapeNode`, the part used here). */
interface TapeNode {
  saved?: tf.Tensor[];
}

/** The engine state fields read here (internal to tfjs, stable through 4.x). */
interface TapeState {
  gradientDepth: number;
  activeTape: TapeNode[] | null;
}

/** Disposes every tensor the outermost active tape saved and drops the tape. */
function dropActiveTape(): void {
  const state = (tf.engine() as unknown as { state: TapeState }).state;
  if (state.gradientDepth !== 0 || !state.activeTape) return; // an outer gradient still runs
  for (const node of state.activeTape) {
    for (const tensor of node.saved ?? []) tensor.dispose();
  }
  state.activeTape = null;
}

/**
 * Like `tf.valueAndGrad(f)`, but when `f` (or its backward pass) throws, the
 * tensors the tape saved for the backward pass are freed before rethrowing.
 *
 * @example
 * ```ts
 * const { value, grad } = valueAndGrad((x) => tf.sum(tf.square(x)))(tf.ones([3]));
 * ```
 */
export function valueAndGrad<I extends tf.Tensor, O extends tf.Tensor>(
  f: (x: I) => O,
): (x: I) => { value: O; grad: I } {
  const run = tf.valueAndGrad(f);
  return (x) => {
    try {
      return run(x);
    } catch (error) {
      dropActiveTape();
      throw error;
    }
  };
}
