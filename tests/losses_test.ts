import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { gram } from "../src/ops/gram.ts";
import { blendGrams, contentLoss, mse, styleLoss, tvLoss } from "../src/engine/losses.ts";

await tf.setBackend("cpu");

/** Central finite difference of `f` at `x` along every coordinate, in float32. */
function numericGradient(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor, h = 1e-2): Float32Array {
  const values = x.dataSync().slice();
  const grad = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const at = (delta: number) => {
      const shifted = values.slice();
      shifted[i] += delta;
      return tf.tidy(() => f(tf.tensor(shifted, x.shape)).dataSync()[0]);
    };
    grad[i] = (at(h) - at(-h)) / (2 * h);
  }
  return grad;
}

function assertGradientMatches(f: (x: tf.Tensor) => tf.Scalar, x: tf.Tensor) {
  const analytic = tf.tidy(() => tf.grad(f)(x).dataSync());
  const numeric = numericGradient(f, x);
  const scale = Math.max(...numeric.map(Math.abs));
  numeric.forEach((n, i) =>
    assert.ok(
      Math.abs(n - analytic[i]) <= 2e-3 * scale + 1e-5,
      `component ${i}: numeric ${n}, analytic ${analytic[i]}`,
    )
  );
}

Deno.test("gram() is FᵀF / (H·W·C), as computed by hand", () => {
  // H=1, W=2, C=2: pixels (1, 2) and (3, 4).
  const f = tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]);
  const g = gram(f);
  // FᵀF = [[1·1+3·3, 1·2+3·4], [2·1+4·3, 2·2+4·4]] = [[10, 14], [14, 20]]; / 4.
  assert.deepEqual(Array.from(g.dataSync()), [2.5, 3.5, 3.5, 5]);
  tf.dispose([f, g]);
});

Deno.test("mse() is the mean of squared differences", () => {
  const [a, b] = [tf.tensor1d([1, 2, 3]), tf.tensor1d([1, 0, 0])];
  assert.ok(Math.abs(mse(a, b).dataSync()[0] - (0 + 4 + 9) / 3) < 1e-6);
  tf.dispose([a, b]);
});

Deno.test("tvLoss() is the mean squared difference of vertical plus horizontal neighbours", () => {
  const x = tf.tensor4d([0, 1, 3, 6], [1, 2, 2, 1]);
  // down: (3-0)², (6-1)² -> mean 17; right: (1-0)², (6-3)² -> mean 5.
  assert.equal(tvLoss(x).dataSync()[0], 22);
  x.dispose();
});

Deno.test("blendGrams() mixes the styles' Grams by weights normalised to one", () => {
  const a = { l: tf.tensor4d([1, 0], [1, 1, 1, 2]) };
  const b = { l: tf.tensor4d([0, 2], [1, 1, 1, 2]) };
  const blended = blendGrams([a, b], [3, 1]);
  // Gram(a) = [[1,0],[0,0]]/2, Gram(b) = [[0,0],[0,4]]/2.
  assert.deepEqual(Array.from(blended.l.dataSync()), [0.375, 0, 0, 0.5]);
  assert.throws(() => blendGrams([a, b], [0, 0]), /must not all be zero/);
  tf.dispose([a.l, b.l, blended.l]);
});

Deno.test("contentLoss() gradient matches finite differences", () => {
  const target = { l: tf.randomNormal([1, 3, 2, 2], 0, 1, "float32", 1) as tf.Tensor4D };
  const x = tf.randomNormal([1, 3, 2, 2], 0, 1, "float32", 2);
  // Features = relu-free nonlinearity so the loss is not just quadratic in x.
  const f = (x: tf.Tensor) =>
    contentLoss({ l: tf.tanh(tf.mul(x, 2)) as tf.Tensor4D }, target, { l: 0.7 }, { l: 3 });
  assertGradientMatches(f, x);
  tf.dispose([target.l, x]);
});

Deno.test("styleLoss() gradient matches finite differences", () => {
  const style = tf.randomNormal([1, 3, 3, 2], 0, 1, "float32", 3) as tf.Tensor4D;
  const targets = { l: gram(style) };
  const x = tf.randomNormal([1, 3, 3, 2], 0, 1, "float32", 4);
  const f = (x: tf.Tensor) => styleLoss({ l: x as tf.Tensor4D }, targets, { l: 2 }, { l: 5 });
  assertGradientMatches(f, x);
  tf.dispose([style, targets.l, x]);
});

Deno.test("tvLoss() gradient matches finite differences", () => {
  const x = tf.randomNormal([1, 3, 4, 2], 0, 1, "float32", 5);
  assertGradientMatches((x) => tvLoss(x as tf.Tensor4D), x);
  x.dispose();
});
