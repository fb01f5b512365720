import assert from "node:assert/strict";
import {
  backtracking,
  cubicMinimizer,
  strongCurvature,
  strongWolfe,
  sufficientDecrease,
  type Trial,
} from "../src/engine/line_search.ts";

/** φ and φ' as one function of t, and a counted, tracked evaluator for the searches. */
function line(phi: (t: number) => [number, number]) {
  const evaluated: Trial[] = [];
  const discarded: Trial[] = [];
  const at = (t: number): Trial => {
    const [f, g] = phi(t);
    const trial = { t, f, g };
    evaluated.push(trial);
    return trial;
  };
  return {
    start: { f: phi(0)[0], g: phi(0)[1] },
    at,
    evaluate: (t: number) => Promise.resolve(at(t)),
    discard: (trial: Trial) => void discarded.push(trial),
    evaluated,
    discarded,
  };
}

/** Every trial but the returned one was discarded, each exactly once. */
function assertAccounted(l: ReturnType<typeof line>, returned: Trial | null) {
  assert.equal(new Set(l.discarded).size, l.discarded.length, "a trial was discarded twice");
  const expected = l.evaluated.filter((t) => t !== returned);
  assert.deepEqual(new Set(l.discarded), new Set(expected));
}

Deno.test("cubicMinimizer() finds the minimum of a cubic from two points and slopes", () => {
  // p(t) = t³ - 3t, p'(t) = 3t² - 3: minimum at t = 1.
  const p = (t: number): Trial => ({ t, f: t ** 3 - 3 * t, g: 3 * t * t - 3 });
  assert.ok(Math.abs(cubicMinimizer(p(0), p(2)) - 1) < 1e-12);
  assert.ok(Math.abs(cubicMinimizer(p(2), p(0)) - 1) < 1e-12);
  // Clamped to the bounds given, and the midpoint when an input is not finite.
  assert.equal(cubicMinimizer(p(0), p(2), [1.5, 3]), 1.5);
  assert.equal(cubicMinimizer(p(0), { t: 2, f: Infinity, g: NaN }), 1);
});

Deno.test("strongWolfe() lengthens a step that is far too short", async () => {
  // φ(t) = (t - 30)²: t = 1 satisfies sufficient decrease but its slope is still steep.
  const l = line((t) => [(t - 30) ** 2, 2 * (t - 30)]);
  const { trial, converged, evaluations } = await strongWolfe(
    l.evaluate,
    l.start,
    l.at(1),
    {},
    l.discard,
  );
  assert.ok(converged && trial);
  assert.ok(sufficientDecrease(l.start, trial) && strongCurvature(l.start, trial));
  assert.ok(trial.t >= 10, `t = ${trial.t}`);
  assert.ok(evaluations <= 4, `${evaluations} evaluations`);
  assertAccounted(l, trial);
});

Deno.test("strongWolfe() zooms in when the first step overshoots", async () => {
  // φ(t) = (t - 0.01)²: t = 1 increases φ; the acceptable steps lie in a narrow band.
  const l = line((t) => [(t - 0.01) ** 2, 2 * (t - 0.01)]);
  const { trial, converged } = await strongWolfe(l.evaluate, l.start, l.at(1), {}, l.discard);
  assert.ok(converged && trial);
  assert.ok(sufficientDecrease(l.start, trial) && strongCurvature(l.start, trial));
  assertAccounted(l, trial);
});

Deno.test("strongWolfe() meets tight conditions on Moré & Thuente's first test function", async () => {
  // φ(t) = -t / (t² + β), β = 2: minimum at √2. c₂ = 0.1 asks for a near-exact search.
  const beta = 2;
  for (const t0 of [1e-3, 1e-1, 10, 1000]) {
    const l = line((t) => [-t / (t * t + beta), (t * t - beta) / (t * t + beta) ** 2]);
    const options = { c1: 1e-3, c2: 0.1 };
    const { trial, converged } = await strongWolfe(
      l.evaluate,
      l.start,
      l.at(t0),
      options,
      l.discard,
    );
    assert.ok(converged && trial, `from t = ${t0}`);
    assert.ok(sufficientDecrease(l.start, trial, options.c1), `from t = ${t0}: t = ${trial.t}`);
    assert.ok(strongCurvature(l.start, trial, options.c2), `from t = ${t0}: t = ${trial.t}`);
    assertAccounted(l, trial);
  }
});

Deno.test("strongWolfe() backs off from steps where φ is not finite", async () => {
  // Beyond t = 0.5 the function overflows, as a loss can for a wild step.
  const l = line((t) => (t > 0.5 ? [Infinity, NaN] : [(t - 0.3) ** 2, 2 * (t - 0.3)]));
  const { trial, converged } = await strongWolfe(l.evaluate, l.start, l.at(1), {}, l.discard);
  assert.ok(converged && trial && Number.isFinite(trial.f));
  assert.ok(sufficientDecrease(l.start, trial) && strongCurvature(l.start, trial));
  assertAccounted(l, trial);
});

Deno.test("strongWolfe() returns null, having freed every trial, when nothing is lower", async () => {
  // The slope at 0 claims descent, but φ rises everywhere (a wrong gradient, or f's noise floor).
  const l = line((t) => [t, 1]);
  const start = { f: 0, g: -1 };
  const result = await strongWolfe(l.evaluate, start, l.at(1), { maxEvaluations: 8 }, l.discard);
  assert.equal(result.trial, null);
  assert.equal(result.converged, false);
  assert.ok(result.evaluations <= 8);
  assertAccounted(l, null);
});

Deno.test("strongWolfe() frees its trials when an evaluation throws", async () => {
  // The first trial asks for a longer step, whose evaluation fails.
  const l = line((t) => [(t - 30) ** 2, 2 * (t - 30)]);
  let calls = 0;
  const failing = (t: number) => {
    if (++calls === 1) return Promise.reject(new Error("out of memory"));
    return l.evaluate(t);
  };
  await assert.rejects(strongWolfe(failing, l.start, l.at(1), {}, l.discard), /out of memory/);
  assertAccounted(l, null);
});

Deno.test("backtracking() shortens until sufficient decrease and never lengthens", async () => {
  const l = line((t) => [(t - 0.01) ** 2, 2 * (t - 0.01)]);
  const { trial, converged } = await backtracking(l.evaluate, l.start, l.at(1), {}, l.discard);
  assert.ok(converged && trial && sufficientDecrease(l.start, trial));
  assert.ok(l.evaluated.every((t, i) => i === 0 || t.t < l.evaluated[i - 1].t));
  assertAccounted(l, trial);

  // A step that is too short is accepted as it is.
  const far = line((t) => [(t - 30) ** 2, 2 * (t - 30)]);
  const short = await backtracking(far.evaluate, far.start, far.at(1), {}, far.discard);
  assert.equal(short.trial?.t, 1);
});
