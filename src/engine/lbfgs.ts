/**
 * @module L-BFGS over tensors, with an Armijo (default) or strong-Wolfe line search.
 *
 * Nocedal & Wright, "Numerical Optimization", Algorithm 7.4 (two-loop
 * recursion); the line searches are in `line_search.ts`. Every vector stays on
 * the device; the only read-back is one small tensor per evaluation: the
 * objective's values, the slope along the search direction at the trial point
 * and the products the curvature pair needs.
 *
 * Bounds: with a `project`ion (a componentwise clip, such as pixels to their
 * valid range) every trial point is projected, x(t) = P(x + t·d), and the line
 * search runs on that projected path, φ(t) = f(P(x + t·d)). Its slope is
 * φ'(t) = ∇f(x(t))ᵀ(d masked to the components P left alone), so the Wolfe
 * conditions are tested on the function actually searched, and components
 * pinned at a bound that d would push further out are dropped from d first.
 * This is the usual projected-path L-BFGS (as PyTorch users clamp inside the
 * closure), not L-BFGS-B's Cauchy point and subspace minimisation.
 *
 * The initial inverse Hessian is H₀ = γ·D: γ = sᵀy/yᵀDy from the newest pair
 * and, optionally, a diagonal D from the running mean square of the gradient
 * (RMSprop's and Adam's second moment), as in adaQN (Keskar & Berahas, ECML
 * PKDD 2016). Style losses weigh pixels very unevenly (a stride-2 first
 * convolution sees some pixels through four windows, others through one), and
 * a scalar H₀ makes every pixel take the step the steepest ones allow.
 */
import * as tf from "@tensorflow/tfjs";
import type { AsyncObjective, Evaluation, Objective, Optimizer, Projection } from "./optimizer.ts";
import { searchLine, type Trial } from "./line_search.ts";

/** Settings of {@linkcode lbfgs}. */
export interface LbfgsOptions {
  /** Curvature pairs remembered (default 10). */
  historySize?: number;
  /** Applied to every trial point; must clip componentwise (default: none). */
  project?: Projection;
  /**
   * `"armijo"` (default: backtracking on sufficient decrease alone, never lengthens a step)
   * or `"strong-wolfe"` (Nocedal & Wright Alg. 3.5/3.6, as PyTorch's and SciPy's L-BFGS).
   * Why Armijo stays the default: see "Optimiser" in the README.
   */
  lineSearch?: "strong-wolfe" | "armijo";
  /** Sufficient-decrease constant c₁ (default 1e-4). */
  c1?: number;
  /** Strong-Wolfe curvature constant c₂ (default 0.9). */
  c2?: number;
  /** Most objective evaluations in one line search (default 10). */
  maxLineSearch?: number;
  /**
   * Root-mean-square size of the very first step, before any curvature is known (default 1,
   * in the image's 0..255 units; 10 suits a noise start).
   */
  firstStepRms?: number;
  /**
   * Diagonal of H₀: `"none"` (default), the identity (textbook L-BFGS); `"rms"`, 1/(√v + ε)
   * with v the running mean of g² (decay 0.9), normalised to mean 1.
   */
  preconditioner?: "rms" | "none";
}

// A pair whose s and y are this close to orthogonal (or opposed: negative curvature, which a
// non-convex loss such as a CNN's has) says nothing usable about the curvature and is skipped,
// so H stays positive definite and keeps the scale it had.
export const CURVATURE_COSINE = 1e-8;
// Decay of the gradient's running mean square (RMSprop's ρ, Adam's β₂ with a short memory: the
// loss's landscape changes fast as a picture forms), and the floor, relative to its mean, of
// the root under which a pixel's scale is not trusted.
const RMS_DECAY = 0.9;
const RMS_FLOOR = 1e-2;

function dot(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(a, b));
}

/** One evaluated point x(t) = P(x + t·d) of a line search; it holds its tensors until accepted or freed. */
interface PointTrial extends Trial {
  x: tf.Tensor;
  evaluation: Evaluation;
  /** The objective's values as read back. */
  values: number[];
  /** φ'(0) = gᵀd, read with every trial (the first trial is where the search learns it). */
  slope0: number;
  /** sᵀy, sᵀs, yᵀy and yᵀDy of the pair s = x(t) - x, y = ∇f(x(t)) - ∇f(x). */
  ys: number;
  ss: number;
  yy: number;
  yDy: number;
}

function freeTrial(trial: PointTrial) {
  tf.dispose([trial.x, trial.evaluation.values, trial.evaluation.grad]);
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
  objective: Objective | AsyncObjective,
  x0: tf.Tensor,
  options: LbfgsOptions = {},
): Promise<Optimizer> {
  const {
    historySize = 10,
    project = (x: tf.Tensor) => x.clone(),
    lineSearch = "armijo",
    c1 = 1e-4,
    c2 = 0.9,
    maxLineSearch = 10,
    firstStepRms = 1,
    preconditioner = "none",
  } = options;
  const search = { c1, c2, maxEvaluations: maxLineSearch };
  if (lineSearch !== "strong-wolfe" && lineSearch !== "armijo") {
    throw new RangeError(
      `options.lineSearch: unknown line search "${lineSearch}"; use "strong-wolfe" or "armijo"`,
    );
  }
  if (preconditioner !== "rms" && preconditioner !== "none") {
    throw new RangeError(
      `options.preconditioner: unknown preconditioner "${preconditioner}"; use "rms" or "none"`,
    );
  }

  let x = tf.tidy(() => project(x0));
  let evaluation: Evaluation;
  let values: number[];
  {
    let first: Evaluation | undefined;
    try {
      first = await objective(x);
      values = Array.from(await first.values.data());
    } catch (error) {
      // The start is ours: freed with whatever the failed evaluation made.
      tf.dispose([x, first?.values, first?.grad].filter((t) => t !== undefined));
      throw error;
    }
    evaluation = first;
  }
  // The curvature pairs, newest last: sₖ = xₖ₊₁ - xₖ, yₖ = gₖ₊₁ - gₖ, ρₖ = 1/yₖᵀsₖ.
  const s: tf.Tensor[] = [];
  const y: tf.Tensor[] = [];
  const rho: number[] = [];
  let gamma: number | null = null; // sᵀy/yᵀDy of the newest pair: the scale of H₀
  // H₀'s diagonal D (mean 1) and the running mean square it comes from; null without one.
  let meanSquare: tf.Tensor | null = null;
  let diagonal: tf.Tensor | null = null;
  let gradients = 0;
  // Set once even steepest descent finds no lower point: x is a minimiser as far as f's
  // precision can tell, and further steps would only spend evaluations.
  let stalled = false;

  /** Folds the gradient at the new point into the mean square and D. */
  function precondition(g: tf.Tensor) {
    if (preconditioner === "none") return;
    gradients += 1;
    const previous = [meanSquare, diagonal];
    [meanSquare, diagonal] = tf.tidy(() => {
      const ms = tf.add(
        tf.mul(meanSquare ?? tf.zerosLike(g), RMS_DECAY),
        tf.mul(tf.square(g), 1 - RMS_DECAY),
      );
      const root = tf.sqrt(tf.div(ms, 1 - RMS_DECAY ** gradients)); // bias-corrected, as Adam
      const inverse = tf.div(1, tf.add(root, tf.mul(tf.mean(root), RMS_FLOOR)));
      return [ms, tf.div(inverse, tf.mean(inverse))];
    });
    tf.dispose(previous.filter((t) => t !== null));
  }
  precondition(evaluation.grad);

  function clearHistory() {
    tf.dispose([...s, ...y]);
    s.length = y.length = rho.length = 0;
    gamma = null;
  }

  /**
   * d = -H·g by the two-loop recursion (without history, -D·g sized by `firstStepRms`), less
   * the components the projection would hold at their bound.
   */
  function direction(g: tf.Tensor): tf.Tensor {
    // Each update frees the vector it replaces: at 4096 px one vector is 200 MB, and a
    // single tidy around the recursion would hold all 4m intermediates at once.
    const replace = (old: tf.Tensor, next: tf.Tensor) => (old.dispose(), next);
    let d: tf.Tensor;
    if (gamma === null) {
      d = tf.tidy(() => {
        const dg = diagonal ? tf.mul(diagonal, g) : g;
        const rms = tf.sqrt(tf.div(dot(dg, dg), g.size));
        return tf.mul(dg, tf.div(-firstStepRms, tf.maximum(rms, 1e-20)));
      });
    } else {
      let q: tf.Tensor = tf.neg(g);
      const alpha: tf.Scalar[] = [];
      for (let i = s.length - 1; i >= 0; i--) {
        alpha[i] = tf.tidy(() => tf.mul(rho[i], dot(s[i], q)));
        q = replace(q, tf.tidy(() => tf.sub(q, tf.mul(alpha[i], y[i]))));
      }
      const scale = gamma;
      d = tf.tidy(() => tf.mul(scale, diagonal ? tf.mul(diagonal, q) : q));
      q.dispose();
      for (let i = 0; i < s.length; i++) {
        d = replace(
          d,
          tf.tidy(() => {
            const beta = tf.mul(rho[i], dot(y[i], d));
            return tf.add(d, tf.mul(s[i], tf.sub(alpha[i], beta)));
          }),
        );
      }
      tf.dispose(alpha);
    }
    // x at a bound that d pushes out of: P(x + d) = x there, and that component cannot move.
    const moves = tf.tidy(() => tf.notEqual(project(tf.add(x, d)), x));
    const masked = tf.tidy(() => tf.mul(d, tf.cast(moves, d.dtype)));
    tf.dispose([moves, d]);
    return masked;
  }

  /** Evaluates x(t) = P(x + t·d), reading back its values, φ'(t), φ'(0) and the pair's products. */
  async function evaluateAt(d: tf.Tensor, slope0: tf.Scalar, t: number): Promise<PointTrial> {
    const xt = tf.tidy(() => project(tf.add(x, tf.mul(d, t))));
    let et: Evaluation;
    try {
      et = await objective(xt);
    } catch (error) {
      xt.dispose();
      throw error;
    }
    // One small tidy per product, so at most a few image-sized temporaries live at once.
    const slope = tf.tidy(() => {
      // The path's slope counts only the components the projection left where x + t·d put them.
      const free = tf.cast(tf.equal(xt, tf.add(x, tf.mul(d, t))), d.dtype);
      return dot(et.grad, tf.mul(free, d));
    });
    const sk = tf.sub(xt, x);
    const yk = tf.sub(et.grad, evaluation.grad);
    const products = [
      slope,
      slope0.clone(),
      tf.tidy(() => dot(yk, sk)),
      tf.tidy(() => dot(sk, sk)),
      tf.tidy(() => dot(yk, yk)),
      tf.tidy(() => diagonal ? dot(yk, tf.mul(diagonal, yk)) : dot(yk, yk)),
    ];
    tf.dispose([sk, yk]);
    const read = tf.tidy(() => tf.concat([et.values, tf.stack(products)]));
    tf.dispose(products);
    const got = Array.from(await read.data());
    read.dispose();
    const [g, s0, ys, ss, yy, yDy] = got.slice(-6);
    const f = got[0];
    const values = got.slice(0, -6);
    return { t, f, g, x: xt, evaluation: et, values, slope0: s0, ys, ss, yy, yDy };
  }

  /** Moves to `trial` (taking it over) and keeps its curvature pair if that has positive curvature. */
  function accept(trial: PointTrial) {
    const [sk, yk] = tf.tidy(
      () => [tf.sub(trial.x, x), tf.sub(trial.evaluation.grad, evaluation.grad)],
    );
    tf.dispose([x, evaluation.values, evaluation.grad]);
    x = trial.x;
    evaluation = trial.evaluation;
    values = trial.values;
    precondition(evaluation.grad);
    const { ys, ss, yy, yDy } = trial;
    if (!(ys > CURVATURE_COSINE * Math.sqrt(ss * yy))) {
      tf.dispose([sk, yk]);
      return;
    }
    s.push(sk);
    y.push(yk);
    rho.push(1 / ys);
    gamma = ys / yDy;
    if (s.length > historySize) {
      tf.dispose([s.shift()!, y.shift()!]);
      rho.shift();
    }
  }

  async function step(): Promise<number[]> {
    while (!stalled) {
      const d = direction(evaluation.grad);
      const slope0 = tf.tidy(() => dot(evaluation.grad, d));
      try {
        const evaluate = (t: number) => evaluateAt(d, slope0, t);
        const first = await evaluate(1);
        const start = { f: values[0], g: first.slope0 };
        if (!(start.g < 0)) {
          // Not a descent direction (stale curvature, or the bounds took all of it): start
          // afresh from steepest descent; if even that cannot descend, x is stationary.
          freeTrial(first);
          stalled = gamma === null;
          clearHistory();
          continue;
        }
        const found = await searchLine(lineSearch, evaluate, start, first, search, freeTrial);
        if (found.trial) {
          accept(found.trial);
          return values;
        }
        // No lower point: stay, forget the curvature, and let the next step begin from
        // steepest descent, unless this already was steepest descent.
        stalled = gamma === null;
        clearHistory();
        return values;
      } finally {
        tf.dispose([d, slope0]);
      }
    }
    return values;
  }

  return {
    step,
    get x() {
      return x;
    },
    dispose() {
      clearHistory();
      tf.dispose([meanSquare, diagonal].filter((t) => t !== null));
      tf.dispose([x, evaluation.values, evaluation.grad]);
    },
  };
}
