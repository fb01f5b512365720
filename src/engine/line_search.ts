/**
 * @module Line searches along one direction: strong Wolfe and Armijo backtracking.
 *
 * Pure arithmetic on φ(t) = f(x + t·d) and its slope φ'(t): the caller
 * evaluates trial steps (on a device, say) and gets back the one accepted.
 * Every trial handed to the search is either returned or passed to `discard`
 * exactly once, also when `evaluate` throws, so a caller can hang tensors on
 * its trials and leak none.
 *
 * {@linkcode strongWolfe} is Nocedal & Wright, "Numerical Optimization"
 * (2nd ed.), Algorithms 3.5 (bracketing) and 3.6 (zoom), with the safeguarded
 * cubic interpolation of PyTorch's `torch.optim.lbfgs._strong_wolfe` (itself
 * from Mark Schmidt's minFunc). {@linkcode backtracking} is Algorithm 3.1 with
 * quadratic interpolation.
 */

/** One evaluated step. */
export interface Trial {
  /** The step length. */
  readonly t: number;
  /** φ(t). */
  readonly f: number;
  /** φ'(t), the slope along the direction at the trial point. */
  readonly g: number;
}

/** φ and φ' at t = 0; `g` must be negative (a descent direction). */
export interface LineStart {
  readonly f: number;
  readonly g: number;
}

/** Settings of {@linkcode strongWolfe}. */
export interface StrongWolfeOptions {
  /** Sufficient-decrease constant c₁ (default 1e-4). */
  c1?: number;
  /** Curvature constant c₂, c₁ < c₂ < 1 (default 0.9, as for quasi-Newton methods). */
  c2?: number;
  /** Most trials, the first included (default 25, as PyTorch's `max_ls`). */
  maxEvaluations?: number;
  /** Stop zooming once the bracket is narrower than this, in units of t (default 1e-9). */
  minWidth?: number;
}

/** Settings of {@linkcode backtracking}. */
export interface BacktrackingOptions {
  /** Sufficient-decrease constant c₁ (default 1e-4). */
  c1?: number;
  /** Most trials, the first included (default 25). */
  maxEvaluations?: number;
}

/** What a search found. */
export interface LineSearchResult<T extends Trial> {
  /** The accepted trial (always one with φ(t) below φ(0)), or `null` when none lowered φ. */
  trial: T | null;
  /** Whether `trial` meets the search's conditions (else it is the best found when it gave up). */
  converged: boolean;
  /** Trials evaluated, the first included. */
  evaluations: number;
}

/** Whether `trial` satisfies the sufficient-decrease (Armijo) condition. */
export function sufficientDecrease(start: LineStart, trial: Trial, c1 = 1e-4): boolean {
  return Number.isFinite(trial.f) && trial.f <= start.f + c1 * trial.t * start.g;
}

/** Whether `trial` satisfies the strong curvature condition |φ'(t)| ≤ c₂|φ'(0)|. */
export function strongCurvature(start: LineStart, trial: Trial, c2 = 0.9): boolean {
  return Math.abs(trial.g) <= -c2 * start.g;
}

/**
 * Minimiser of the cubic through (t₁, f₁, g₁) and (t₂, f₂, g₂), clamped to
 * `bounds` (default: between t₁ and t₂); the bounds' midpoint when the cubic has
 * no minimiser or an input is not finite.
 */
export function cubicMinimizer(
  a: Trial,
  b: Trial,
  bounds: [number, number] = [Math.min(a.t, b.t), Math.max(a.t, b.t)],
): number {
  const [lo, hi] = bounds;
  const d1 = a.g + b.g - (3 * (a.f - b.f)) / (a.t - b.t);
  const d2Square = d1 * d1 - a.g * b.g;
  let t = NaN;
  if (d2Square >= 0) {
    const d2 = Math.sqrt(d2Square);
    t = a.t <= b.t
      ? b.t - (b.t - a.t) * ((b.g + d2 - d1) / (b.g - a.g + 2 * d2))
      : a.t - (a.t - b.t) * ((a.g + d2 - d1) / (a.g - b.g + 2 * d2));
  }
  return Number.isFinite(t) ? Math.min(Math.max(t, lo), hi) : (lo + hi) / 2;
}

/** The trials a search still holds; `keepOnly` discards the rest, each once. */
function discarder<T extends Trial>(discard: (trial: T) => void) {
  const live = new Set<T>();
  return {
    add(trial: T) {
      live.add(trial);
      return trial;
    },
    keepOnly(...keep: (T | null)[]) {
      for (const trial of [...live]) {
        if (!keep.includes(trial)) {
          live.delete(trial);
          discard(trial);
        }
      }
    },
  };
}

/**
 * Finds a step satisfying the strong Wolfe conditions
 * φ(t) ≤ φ(0) + c₁·t·φ'(0) and |φ'(t)| ≤ c₂·|φ'(0)|.
 *
 * `first` is the already evaluated initial trial (e.g. t = 1 for a quasi-Newton
 * direction); `evaluate(t)` evaluates further ones. Steps grow (up to ten-fold
 * per trial, by cubic extrapolation) until a bracket holds an acceptable step,
 * which cubic interpolation then narrows. If the trial budget runs out or the
 * bracket collapses, the lowest point found that satisfies sufficient decrease
 * is returned with `converged: false` (or `null` if there is none).
 *
 * @example
 * ```ts
 * // φ(t) = (t - 3)², φ'(t) = 2(t - 3): the search lands near t = 3.
 * const phi = (t: number) => ({ t, f: (t - 3) ** 2, g: 2 * (t - 3) });
 * const { trial } = await strongWolfe((t) => Promise.resolve(phi(t)), phi(0), phi(1));
 * ```
 */
export async function strongWolfe<T extends Trial>(
  evaluate: (t: number) => Promise<T>,
  start: LineStart,
  first: T,
  options: StrongWolfeOptions = {},
  discard: (trial: T) => void = () => {},
): Promise<LineSearchResult<T>> {
  const { c1 = 1e-4, c2 = 0.9, maxEvaluations = 25, minWidth = 1e-9 } = options;
  const trials = discarder(discard);
  const origin: Trial = { t: 0, f: start.f, g: start.g };
  const armijo = (trial: Trial) => sufficientDecrease(start, trial, c1);
  const curvature = (trial: Trial) => strongCurvature(start, trial, c2);
  let evaluations = 1;
  // The bracket's ends may be the origin (t = 0), which is no trial of the caller's.
  const own = (point: Trial) => point === origin ? null : point as T;
  const done = (trial: T | null, converged: boolean): LineSearchResult<T> => {
    trials.keepOnly(trial);
    return { trial, converged, evaluations };
  };

  try {
    // Algorithm 3.5: grow the step until [previous, current] brackets an acceptable one.
    let previous: Trial = origin;
    let current = trials.add(first);
    let low: Trial, high: Trial; // the bracket: low satisfies sufficient decrease and is lowest
    for (;;) {
      if (!armijo(current) || (previous !== origin && current.f >= previous.f)) {
        [low, high] = [previous, current];
        break;
      }
      if (curvature(current)) return done(current, true);
      if (current.g >= 0) {
        [low, high] = [current, previous];
        break;
      }
      if (evaluations >= maxEvaluations) return done(current, false);
      const t = cubicMinimizer(previous, current, [
        current.t + 0.01 * (current.t - previous.t),
        current.t * 10,
      ]);
      previous = current;
      trials.keepOnly(previous as T);
      current = trials.add(await evaluate(t));
      evaluations += 1;
    }
    trials.keepOnly(own(low), own(high));

    // Algorithm 3.6: zoom in on [low, high], keeping low the lowest sufficient-decrease point.
    let insufficientProgress = false;
    while (evaluations < maxEvaluations && Math.abs(high.t - low.t) >= minWidth) {
      const lo = Math.min(low.t, high.t), hi = Math.max(low.t, high.t);
      let t = cubicMinimizer(low, high);
      // A trial hugging the bracket's end shrinks it little: after two in a row (or one on the
      // end itself) step a tenth of the bracket inside instead.
      const margin = 0.1 * (hi - lo);
      if (Math.min(hi - t, t - lo) < margin) {
        if (insufficientProgress || t >= hi || t <= lo) {
          t = Math.abs(t - hi) < Math.abs(t - lo) ? hi - margin : lo + margin;
          insufficientProgress = false;
        } else {
          insufficientProgress = true;
        }
      } else {
        insufficientProgress = false;
      }
      const trial = trials.add(await evaluate(t));
      evaluations += 1;
      if (!armijo(trial) || trial.f >= low.f) {
        high = trial;
      } else {
        if (curvature(trial)) return done(trial, true);
        if (trial.g * (high.t - low.t) >= 0) high = low;
        low = trial;
      }
      trials.keepOnly(own(low), own(high));
    }
    return done(own(low), false);
  } catch (error) {
    trials.keepOnly();
    throw error;
  }
}

/**
 * Backtracks from `first` until φ(t) ≤ φ(0) + c₁·t·φ'(0), each new step the
 * minimiser of the quadratic through φ(0), φ'(0) and φ(t), kept within
 * [0.1·t, 0.5·t]. Never lengthens the step.
 */
export async function backtracking<T extends Trial>(
  evaluate: (t: number) => Promise<T>,
  start: LineStart,
  first: T,
  options: BacktrackingOptions = {},
  discard: (trial: T) => void = () => {},
): Promise<LineSearchResult<T>> {
  const { c1 = 1e-4, maxEvaluations = 25 } = options;
  let trial = first;
  for (let evaluations = 1;; evaluations++) {
    if (sufficientDecrease(start, trial, c1)) return { trial, converged: true, evaluations };
    discard(trial);
    if (evaluations >= maxEvaluations) return { trial: null, converged: false, evaluations };
    const { t, f } = trial;
    const quadratic = Number.isFinite(f)
      ? (-start.g * t * t) / (2 * (f - start.f - start.g * t))
      : 0;
    trial = await evaluate(Math.min(0.5 * t, Math.max(0.1 * t, quadratic || 0)));
  }
}

/** {@linkcode backtracking} (`"armijo"`) or {@linkcode strongWolfe}, as an L-BFGS option names it. */
export function searchLine<T extends Trial>(
  kind: "armijo" | "strong-wolfe",
  evaluate: (t: number) => Promise<T>,
  start: LineStart,
  first: T,
  options: StrongWolfeOptions,
  discard: (trial: T) => void,
): Promise<LineSearchResult<T>> {
  return kind === "armijo"
    ? backtracking(evaluate, start, first, options, discard)
    : strongWolfe(evaluate, start, first, options, discard);
}
