/**
 * @module L-BFGS over host memory, for stages whose vectors would crowd the device.
 *
 * The method of `lbfgs.ts` (Nocedal & Wright Algorithm 7.4, the line searches
 * of `line_search.ts` on the projected path x(t) = P(x + t·d)), with its vectors
 * in `Float32Array`s updated in place. At 4096×4096 one image-sized vector is
 * 200 MB; tensors would put every one of them, and every temporary an update
 * makes, in the wasm heap beside each tile's forward and backward pass (a heap
 * that never shrinks and stops at 4 GiB). Here the buffers are allocated once
 * and reused: x, ∇f, d, one trial point and its gradient, and the 2·m curvature
 * pairs. An accepted step turns the old x and ∇f into the new pair s = x₊ - x,
 * y = ∇f₊ - ∇f in place, and a pair leaving the history becomes the next
 * trial's buffers. The dot products are summed in doubles.
 *
 * The projection is a clip of each channel to `[lower[c], upper[c]]` (pixels
 * to their valid range); H₀ is γ·I with γ = sᵀy/yᵀy of the newest pair.
 */
import { searchLine, type Trial } from "./line_search.ts";
import type { HostObjective } from "./optimizer.ts";
import { CURVATURE_COSINE, type LbfgsOptions } from "./lbfgs.ts";

/** Settings of {@linkcode hostLbfgs}: those of `lbfgs()` but the projection and H₀'s diagonal. */
export interface HostLbfgsOptions extends Omit<LbfgsOptions, "project" | "preconditioner"> {
  /** Per-channel bounds of an interleaved image (`[r, g, b, r, g, b, …]`); default: none. */
  bounds?: { lower: readonly number[]; upper: readonly number[] };
}

/** An optimiser in progress over host memory: each `step()` is one update of `x`. */
export interface HostOptimizer {
  /** Takes one step; resolves to the objective's values after it. */
  step(): Promise<number[]>;
  /** The current point (the optimiser's buffer: copy it to keep it past the next step). */
  readonly x: Float32Array;
}

/** One evaluated point of a line search, holding two buffers until accepted or returned. */
interface BufferTrial extends Trial {
  x: Float32Array;
  grad: Float32Array;
  values: number[];
  /** sᵀy, sᵀs and yᵀy of the pair s = x(t) - x, y = ∇f(x(t)) - ∇f(x). */
  ys: number;
  ss: number;
  yy: number;
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/**
 * Starts L-BFGS at `x0`, evaluating the objective there once. `x0` is taken over (clipped
 * in place and updated from then on: at 4096 px a copy would be another 200 MB).
 *
 * @example
 * ```ts
 * const f: HostObjective = async (x, grad) => {
 *   grad.set(x.map((v) => 2 * v));
 *   return [x.reduce((s, v) => s + v * v, 0)];
 * };
 * const opt = await hostLbfgs(f, new Float32Array([3, -4, 5]));
 * for (let i = 0; i < 5; i++) await opt.step();
 * ```
 */
export async function hostLbfgs(
  objective: HostObjective,
  x0: Float32Array,
  options: HostLbfgsOptions = {},
): Promise<HostOptimizer> {
  const {
    historySize = 10,
    lineSearch = "armijo",
    c1 = 1e-4,
    c2 = 0.9,
    maxLineSearch = 10,
    firstStepRms = 1,
    bounds,
  } = options;
  const search = { c1, c2, maxEvaluations: maxLineSearch };
  const n = x0.length;
  const spare: Float32Array[] = [];
  const take = () => spare.pop() ?? new Float32Array(n);
  const clip = bounds
    ? (v: number, i: number) => Math.min(Math.max(v, bounds.lower[i % 3]), bounds.upper[i % 3])
    : (v: number) => v;

  let x: Float32Array = x0;
  for (let i = 0; i < n; i++) x[i] = clip(x[i], i);
  let grad: Float32Array = new Float32Array(n);
  let values = await objective(x, grad);
  const d = new Float32Array(n);
  // The curvature pairs, newest last: sₖ = xₖ₊₁ - xₖ, yₖ = gₖ₊₁ - gₖ, ρₖ = 1/yₖᵀsₖ.
  const s: Float32Array[] = [];
  const y: Float32Array[] = [];
  const rho: number[] = [];
  let gamma: number | null = null;
  let stalled = false;

  function clearHistory() {
    spare.push(...s, ...y);
    s.length = y.length = rho.length = 0;
    gamma = null;
  }

  /** d = -H·∇f by the two-loop recursion, less the components a bound holds still. */
  function direction() {
    if (gamma === null) {
      const rms = Math.sqrt(dot(grad, grad) / n);
      const scale = -firstStepRms / Math.max(rms, 1e-20);
      for (let i = 0; i < n; i++) d[i] = grad[i] * scale;
    } else {
      for (let i = 0; i < n; i++) d[i] = -grad[i];
      const alpha: number[] = [];
      for (let k = s.length - 1; k >= 0; k--) {
        alpha[k] = rho[k] * dot(s[k], d);
        const yk = y[k];
        for (let i = 0; i < n; i++) d[i] -= alpha[k] * yk[i];
      }
      for (let i = 0; i < n; i++) d[i] *= gamma;
      for (let k = 0; k < s.length; k++) {
        const step = alpha[k] - rho[k] * dot(y[k], d);
        const sk = s[k];
        for (let i = 0; i < n; i++) d[i] += step * sk[i];
      }
    }
    // x at a bound that d pushes out of cannot move there.
    for (let i = 0; i < n; i++) if (clip(x[i] + d[i], i) === x[i]) d[i] = 0;
  }

  /** Evaluates x(t) = P(x + t·d): its values, the path's slope φ'(t) and the pair's products. */
  async function evaluateAt(t: number): Promise<BufferTrial> {
    const xt = take();
    const gt = take();
    for (let i = 0; i < n; i++) xt[i] = clip(x[i] + t * d[i], i);
    let trialValues: number[];
    try {
      trialValues = await objective(xt, gt);
    } catch (error) {
      spare.push(xt, gt);
      throw error;
    }
    let slope = 0, ys = 0, ss = 0, yy = 0;
    for (let i = 0; i < n; i++) {
      // The path's slope counts only the components the clip left where x + t·d put them.
      if (clip(x[i] + t * d[i], i) === x[i] + t * d[i]) slope += gt[i] * d[i];
      const si = xt[i] - x[i];
      const yi = gt[i] - grad[i];
      ys += si * yi;
      ss += si * si;
      yy += yi * yi;
    }
    return { t, f: trialValues[0], g: slope, x: xt, grad: gt, values: trialValues, ys, ss, yy };
  }

  const discard = (trial: BufferTrial) => spare.push(trial.x, trial.grad);

  /** Moves to `trial`; the old x and ∇f become its curvature pair if that has positive curvature. */
  function accept(trial: BufferTrial) {
    for (let i = 0; i < n; i++) {
      x[i] = trial.x[i] - x[i];
      grad[i] = trial.grad[i] - grad[i];
    }
    const [sk, yk] = [x, grad];
    [x, grad, values] = [trial.x, trial.grad, trial.values];
    if (!(trial.ys > CURVATURE_COSINE * Math.sqrt(trial.ss * trial.yy))) {
      spare.push(sk, yk);
      return;
    }
    s.push(sk);
    y.push(yk);
    rho.push(1 / trial.ys);
    gamma = trial.ys / trial.yy;
    if (s.length > historySize) {
      spare.push(s.shift()!, y.shift()!);
      rho.shift();
    }
  }

  async function step(): Promise<number[]> {
    while (!stalled) {
      direction();
      const start = { f: values[0], g: dot(grad, d) };
      if (!(start.g < 0)) {
        // Not a descent direction: start afresh from steepest descent, or stop if that was it.
        stalled = gamma === null;
        clearHistory();
        continue;
      }
      const first = await evaluateAt(1);
      const found = await searchLine(lineSearch, evaluateAt, start, first, search, discard);
      if (found.trial) {
        accept(found.trial);
      } else {
        stalled = gamma === null;
        clearHistory();
      }
      return values;
    }
    return values;
  }

  return {
    step,
    get x() {
      return x;
    },
  };
}
