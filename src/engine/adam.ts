/**
 * @module Adam (Kingma & Ba, 2015) over a tensor, the engine's second optimiser.
 */
import * as tf from "@tensorflow/tfjs";
import type { Objective, Optimizer, Projection } from "./optimizer.ts";

/** Settings of {@linkcode adam}. */
export interface AdamOptions {
  /** Step size α (default 5, in preprocessed pixel units). */
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Applied after every update (default: none). */
  project?: Projection;
}

/**
 * Starts Adam at `x0` (not taken over). Each `step()` evaluates the objective at
 * the current point, reports its values, and moves.
 */
export function adam(objective: Objective, x0: tf.Tensor, options: AdamOptions = {}): Optimizer {
  const {
    learningRate = 5,
    beta1 = 0.9,
    beta2 = 0.999,
    epsilon = 1e-8,
    project = (x: tf.Tensor) => x.clone(),
  } = options;
  let x = tf.tidy(() => project(x0));
  let m = tf.zerosLike(x);
  let v = tf.zerosLike(x);
  let t = 0;

  async function step(): Promise<number[]> {
    const { values, grad } = objective(x);
    t += 1;
    const [m1, v1, x1] = tf.tidy(() => {
      const m1 = tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1));
      const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2));
      const mHat = tf.div(m1, 1 - beta1 ** t);
      const vHat = tf.div(v1, 1 - beta2 ** t);
      const x1 = project(
        tf.sub(x, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), learningRate)),
      );
      return [m1, v1, x1];
    });
    tf.dispose([m, v, x, grad]);
    [m, v, x] = [m1, v1, x1];
    try {
      return Array.from(await values.data());
    } finally {
      values.dispose();
    }
  }

  return {
    step,
    get x() {
      return x;
    },
    dispose() {
      tf.dispose([x, m, v]);
    },
  };
}
