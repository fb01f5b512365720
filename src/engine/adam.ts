/**
 * @module Adam (Kingma & Ba, 2015) over a tensor, the engine's second optimiser.
 *
 * Like L-BFGS, it reports the objective at the point it now holds, so the
 * losses of a step and its preview image describe the same image.
 */
import * as tf from "@tensorflow/tfjs";
import type { AsyncObjective, Evaluation, Objective, Optimizer, Projection } from "./optimizer.ts";

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
 * Starts Adam at `x0` (not taken over), evaluating the objective there once.
 * Each `step()` moves with the last gradient, evaluates the objective at the
 * new point and reports those values: the loss of the image `x` now holds,
 * the one a preview shows (as L-BFGS does). One evaluation per step, plus the
 * one at the start.
 *
 * @example
 * ```ts
 * const opt = await adam(f, tf.zeros([2]), { learningRate: 0.1 });
 * for (let i = 0; i < 50; i++) await opt.step();
 * opt.dispose();
 * ```
 */
export async function adam(
  objective: Objective | AsyncObjective,
  x0: tf.Tensor,
  options: AdamOptions = {},
): Promise<Optimizer> {
  const {
    learningRate = 5,
    beta1 = 0.9,
    beta2 = 0.999,
    epsilon = 1e-8,
    project = (x: tf.Tensor) => x.clone(),
  } = options;
  let x = tf.tidy(() => project(x0));
  let evaluation: Evaluation;
  try {
    evaluation = await objective(x);
  } catch (error) {
    x.dispose();
    throw error;
  }
  let m = tf.zerosLike(x);
  let v = tf.zerosLike(x);
  let t = 0;

  async function step(): Promise<number[]> {
    const { grad } = evaluation;
    const [m1, v1, x1] = tf.tidy(() => {
      const m1 = tf.add(tf.mul(m, beta1), tf.mul(grad, 1 - beta1));
      const v1 = tf.add(tf.mul(v, beta2), tf.mul(tf.square(grad), 1 - beta2));
      const mHat = tf.div(m1, 1 - beta1 ** (t + 1));
      const vHat = tf.div(v1, 1 - beta2 ** (t + 1));
      const x1 = project(
        tf.sub(x, tf.mul(tf.div(mHat, tf.add(tf.sqrt(vHat), epsilon)), learningRate)),
      );
      return [m1, v1, x1];
    });
    let next: Evaluation;
    try {
      next = await objective(x1);
    } catch (error) {
      tf.dispose([m1, v1, x1]);
      throw error;
    }
    t += 1;
    tf.dispose([m, v, x, evaluation.values, evaluation.grad]);
    [m, v, x, evaluation] = [m1, v1, x1, next];
    return Array.from(await evaluation.values.data());
  }

  return {
    step,
    get x() {
      return x;
    },
    dispose() {
      tf.dispose([x, m, v, evaluation.values, evaluation.grad]);
    },
  };
}
