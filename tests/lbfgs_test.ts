import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { lbfgs } from "../src/engine/lbfgs.ts";
import { adam } from "../src/engine/adam.ts";
import type { Objective } from "../src/engine/optimizer.ts";

await tf.setBackend("cpu");

/** f and ∇f by autodiff, in the shape the optimisers want. */
function objectiveOf(f: (x: tf.Tensor) => tf.Scalar): Objective {
  const valueAndGrad = tf.valueAndGrad(f);
  return (x) => {
    const { value, grad } = valueAndGrad(x);
    const values = tf.reshape(value, [1]) as tf.Tensor1D;
    value.dispose();
    return { values, grad };
  };
}

/** Σᵢ 100(xᵢ₊₁ - xᵢ²)² + (1 - xᵢ)², minimum 0 at (1, …, 1). */
function rosenbrock(x: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const n = x.size;
    const head = tf.slice(x, 0, n - 1);
    const tail = tf.slice(x, 1, n - 1);
    return tf.sum(
      tf.add(tf.mul(100, tf.square(tf.sub(tail, tf.square(head)))), tf.square(tf.sub(1, head))),
    );
  });
}

/** Runs `steps` L-BFGS steps; `evaluations` counts the objective's calls after the one at the start. */
async function minimise(f: Objective, start: number[], steps: number, historySize = 10) {
  let calls = 0;
  const counted: Objective = (x) => (calls++, f(x));
  const x0 = tf.tensor1d(start);
  const opt = await lbfgs(counted, x0, { historySize });
  const atStart = calls;
  let values = [NaN];
  for (let i = 0; i < steps; i++) values = await opt.step();
  const x = Array.from(await opt.x.data());
  opt.dispose();
  x0.dispose();
  return { x, value: values[0], evaluations: calls - atStart };
}

Deno.test("lbfgs() finds the minimum of the 2-D Rosenbrock function from (-1.2, 1)", async () => {
  const before = tf.memory().numTensors;
  const { x, value } = await minimise(objectiveOf(rosenbrock), [-1.2, 1], 100);
  assert.ok(value < 1e-6, `f = ${value}`);
  x.forEach((xi) => assert.ok(Math.abs(xi - 1) < 1e-2, `x = ${x}`));
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("lbfgs() finds the minimum of the 10-D Rosenbrock function", async () => {
  const start = Array.from({ length: 10 }, (_, i) => (i % 2 ? 1 : -1.2));
  const { x, value } = await minimise(objectiveOf(rosenbrock), start, 300);
  assert.ok(value < 1e-5, `f = ${value}`);
  x.forEach((xi) => assert.ok(Math.abs(xi - 1) < 2e-2, `x = ${x}`));
});

Deno.test("lbfgs() solves an ill-conditioned quadratic in few steps", async () => {
  // f(x) = ½ Σ aᵢ (xᵢ - cᵢ)², condition number 1000.
  const a = tf.tensor1d([1, 10, 100, 1000, 3, 30]);
  const c = tf.tensor1d([1, -2, 3, -4, 5, -6]);
  const f = objectiveOf((x) =>
    tf.tidy(() => tf.mul(0.5, tf.sum(tf.mul(a, tf.square(tf.sub(x, c))))))
  );
  const { x, value } = await minimise(f, [0, 0, 0, 0, 0, 0], 30);
  assert.ok(value < 1e-8, `f = ${value}`);
  x.forEach((xi, i) => assert.ok(Math.abs(xi - [1, -2, 3, -4, 5, -6][i]) < 1e-3, `x = ${x}`));
  tf.dispose([a, c]);
});

Deno.test("lbfgs() keeps every trial point inside the projection's box", async () => {
  // Unconstrained minimum at 5; the box [-1, 2] puts it on the bound at 2.
  const f = objectiveOf((x) => tf.tidy(() => tf.sum(tf.square(tf.sub(x, 5)))));
  const x0 = tf.tensor1d([0, 0, 0]);
  const opt = await lbfgs(f, x0, { project: (x) => tf.clipByValue(x, -1, 2) });
  for (let i = 0; i < 20; i++) await opt.step();
  assert.deepEqual(Array.from(await opt.x.data()), [2, 2, 2]);
  opt.dispose();
  x0.dispose();
});

Deno.test("lbfgs() spends about one evaluation per step on Rosenbrock, and none once converged", async () => {
  // Converges in about 40 steps; the 60 after it must not each run a failing line search.
  const { value, evaluations } = await minimise(objectiveOf(rosenbrock), [-1.2, 1], 100);
  assert.ok(value < 1e-6, `f = ${value}`);
  assert.ok(evaluations / 100 <= 1.5, `${evaluations} evaluations in 100 steps`);
});

Deno.test("lbfgs() keeps its step size when the first curvature pair is negative", async () => {
  // f = 1e-4 Σ cos(xᵢ) starts on the concave side of each bump, like a CNN loss near noise: the
  // first pair has sᵀy < 0 and must be skipped, not turned into an H₀ of the gradient's tiny scale.
  const f = objectiveOf((x) => tf.tidy(() => tf.mul(1e-4, tf.sum(tf.cos(x)))));
  const start = Array.from({ length: 64 }, (_, i) => 0.2 + 0.1 * Math.sin(i));
  const { value, evaluations } = await minimise(f, start, 30);
  // Every xᵢ at a minimum of cos, an odd multiple of π.
  assert.ok(value < -64e-4 * 0.999, `f = ${value}`);
  assert.ok(evaluations / 30 <= 1.5, `${evaluations} evaluations in 30 steps`);
});

Deno.test("adam() decreases a quadratic and leaks nothing", async () => {
  const before = tf.memory().numTensors;
  const f = objectiveOf((x) => tf.tidy(() => tf.sum(tf.square(tf.sub(x, 3)))));
  const x0 = tf.tensor1d([0, 10]);
  const opt = adam(f, x0, { learningRate: 0.5 });
  const first = (await opt.step())[0];
  let last = first;
  for (let i = 0; i < 200; i++) last = (await opt.step())[0];
  assert.ok(last < first * 1e-3, `${first} -> ${last}`);
  opt.dispose();
  x0.dispose();
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("adam() reports the loss of the point it holds after the step (the one a preview shows)", async () => {
  const fx = (x: tf.Tensor): tf.Scalar => tf.tidy(() => tf.sum(tf.square(tf.sub(x, 3))));
  const x0 = tf.tensor1d([0, 10]);
  const opt = adam(objectiveOf(fx), x0, { learningRate: 0.5 });
  for (let i = 0; i < 3; i++) {
    const [reported] = await opt.step();
    const atX = fx(opt.x);
    assert.ok(Math.abs(reported - (await atX.data())[0]) < 1e-4, `step ${i + 1}`);
    atX.dispose();
  }
  opt.dispose();
  x0.dispose();
});
