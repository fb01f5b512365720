/**
 * @module L-BFGS over tensors, with a projected backtracking (Armijo) line search.
 *
 * Nocedal & Wright, "Numerical Optimization", Algorithm 7.4 (two-loop
 * recursion) and 3.1 (backtracking). Every vector stays on the device; the only
 * read-back is one small tensor per evaluation: the objective's values plus the
 * directional derivative the Armijo test needs.
 */
import * as tf from "@tensorflow/tfjs";
import type { Evaluation, Objective, Optimizer, Projection } from "./optimizer.ts";

/** Settings of {@linkcode lbfgs}. */
export interface LbfgsOptions {
  /** Curvature pairs remembered (default 10). */
  historySize?: number;
  /** Applied to every trial point (default: none). */
  project?: Projection;
  /** Armijo sufficient-decrease constant c₁ (default 1e-4). */
  c1?: number;
  /** Most objective evaluations in one line search (default 10). */
  maxLineSearch?: number;
  /** Root-mean-square size of the very first step, before any curvature is known (default 1). */
  firstStepRms?: number;
}

// A pair whose s and y are this close to orthogonal (or opposed: negative curvature, which a
// non-convex loss such as a CNN's has) says nothing usable about the curvature and is skipped,
// so H stays positive definite and keeps the scale it had.
const CURVATURE_COSINE = 1e-8;

function dot(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(a, b));
}

/**
 * Starts L-BFGS at `x0` (not taken over: the caller still owns it).
 * Evaluates the objective once at `x0`; each `step()` is one quasi-Newton update.
 *
 * @example
 * ```ts
 * const opt = await lbfgs(f, tf.zeros([2]), { historySize: 10 });
 * for (let i = 0; i < 50; i++) await opt.step();
 * opt.x.print();
 * opt.dispose();
 * ```
 */
export async function lbfgs(
  objective: Objective,
  x0: tf.Tensor,
  options: LbfgsOptions = {},
): Promise<Optimizer> {
  const {
    historySize = 10,
    project = (x: tf.Tensor) => x.clone(),
    c1 = 1e-4,
    maxLineSearch = 10,
    firstStepRms = 1,
  } = options;

  let x = tf.tidy(() => project(x0));
  let evaluation: Evaluation | undefined;
  let values: number[];
  try {
    evaluation = objective(x);
    values = Array.from(await evaluation.values.data());
  } catch (error) {
    tf.dispose([x, evaluation?.values, evaluation?.grad].filter((t) => t !== undefined));
    throw error;
  }
  let current: Evaluation = evaluation;
  // The curvature pairs, newest last: sₖ = xₖ₊₁ - xₖ, yₖ = gₖ₊₁ - gₖ, ρₖ = 1/yₖᵀsₖ.
  const s: tf.Tensor[] = [];
  const y: tf.Tensor[] = [];
  const rho: number[] = [];
  let gamma: number | null = null; // sᵀy/yᵀy of the newest pair: the scale of H₀
  // Set once even steepest descent finds no lower point: x is a minimiser as far as f's
  // precision can tell, and further steps would only spend evaluations.
  let stalled = false;

  function clearHistory() {
    tf.dispose([...s, ...y]);
    s.length = y.length = rho.length = 0;
    gamma = null;
  }

  /** d = -H·g by the two-loop recursion; plain steepest descent, sized by `firstStepRms`, without history. */
  function direction(g: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      if (gamma === null) {
        const rms = tf.sqrt(tf.div(dot(g, g), g.size));
        return tf.mul(g, tf.div(-firstStepRms, tf.maximum(rms, 1e-20)));
      }
      let q: tf.Tensor = tf.neg(g);
      const alpha: tf.Scalar[] = [];
      for (let i = s.length - 1; i >= 0; i--) {
        alpha[i] = tf.mul(rho[i], dot(s[i], q));
        q = tf.sub(q, tf.mul(alpha[i], y[i]));
      }
      let r = tf.mul(gamma, q);
      for (let i = 0; i < s.length; i++) {
        const beta = tf.mul(rho[i], dot(y[i], r));
        r = tf.add(r, tf.mul(s[i], tf.sub(alpha[i], beta)));
      }
      return r;
    });
  }

  /** Keeps the pair (taking it over) if it has positive curvature, else frees it. */
  function remember(sk: tf.Tensor, yk: tf.Tensor, ys: number, ss: number, yy: number) {
    if (!(ys > CURVATURE_COSINE * Math.sqrt(ss * yy))) {
      tf.dispose([sk, yk]);
      return;
    }
    s.push(sk);
    y.push(yk);
    rho.push(1 / ys);
    gamma = ys / yy;
    if (s.length > historySize) {
      tf.dispose([s.shift()!, y.shift()!]);
      rho.shift();
    }
  }

  async function step(): Promise<number[]> {
    if (stalled) return values;
    const f = values[0];
    let d = direction(current.grad);
    let t = 1;
    try {
      for (let trial = 0; trial < maxLineSearch; trial++) {
        const xt = tf.tidy(() => project(tf.add(x, tf.mul(d, t))));
        // Everything this trial makes, freed here if the evaluation or the read-back throws.
        const trialTensors: tf.Tensor[] = [xt];
        let et: Evaluation, sk: tf.Tensor, yk: tf.Tensor, got: number[];
        try {
          et = objective(xt);
          trialTensors.push(et.values, et.grad);
          [sk, yk] = tf.tidy(() => [tf.sub(xt, x), tf.sub(et.grad, current.grad)]);
          trialTensors.push(sk, yk);
          // One read-back: the values, gᵀs (the Armijo test's slope term) and the pair's products.
          const read = tf.tidy(() =>
            tf.concat([
              et.values,
              tf.stack([dot(current.grad, sk), dot(yk, sk), dot(sk, sk), dot(yk, yk)]),
            ])
          );
          trialTensors.push(read);
          got = Array.from(await read.data());
          read.dispose();
        } catch (error) {
          tf.dispose(trialTensors);
          throw error;
        }
        const [decrease, ys, ss, yy] = got.slice(-4);
        const ft = got[0];
        if (Number.isFinite(ft) && decrease < 0 && ft <= f + c1 * decrease) {
          remember(sk, yk, ys, ss, yy);
          tf.dispose([x, current.values, current.grad]);
          x = xt;
          current = et;
          values = got.slice(0, -4);
          return values;
        }
        tf.dispose([xt, et.values, et.grad, sk, yk]);
        if (!(decrease < 0) && gamma !== null) {
          // Not a descent direction (stale curvature, or the projection undid it): start afresh.
          clearHistory();
          d.dispose();
          d = direction(current.grad);
          t = 1;
          continue;
        }
        // Minimiser of the quadratic through f, the slope at 0 and ft, kept within [0.1t, 0.5t].
        const slope0 = decrease / t;
        const tq = Number.isFinite(ft) ? -slope0 * t * t / (2 * (ft - f - slope0 * t)) : 0;
        t = Math.min(0.5 * t, Math.max(0.1 * t, Number.isFinite(tq) ? tq : 0));
      }
      // No acceptable point: stay, forget the curvature, and let the next step begin from
      // steepest descent, unless this already was steepest descent.
      stalled = gamma === null;
      clearHistory();
      return values;
    } finally {
      d.dispose();
    }
  }

  return {
    step,
    get x() {
      return x;
    },
    dispose() {
      clearHistory();
      tf.dispose([x, current.values, current.grad]);
    },
  };
}
