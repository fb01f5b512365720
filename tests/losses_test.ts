/**
 * The loss terms as the tfjs executor computes them (`src/loss/terms.ts`): values by
 * hand on small tensors, gradients against finite differences, masks, and the linear
 * style term whose gradient is the style loss's own. (ONNX Runtime's emitters are held
 * to these in `executors_test.ts` and `onnx_test.ts`.)
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { gram } from "../src/ops/gram.ts";
import { tfjsExecutor } from "../src/executors/tfjs.ts";
import type { Term } from "../src/loss/terms.ts";
import { tvTerm } from "../src/loss/terms.ts";
import type { FeatureNetwork } from "../src/net/network.ts";

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

/** A stand-in network whose one layer `l` is tanh(2x): the terms see a non-linear map of x. */
const network = {
  id: "squeezenet",
  layers: ["l"],
  mean: [0, 0, 0],
  presets: {},
  preprocess: (x: tf.Tensor4D) => x,
  deprocess: (x: tf.Tensor4D) => x,
  features: (x: tf.Tensor4D) => ({ l: tf.tanh(tf.mul(x, 2)) as tf.Tensor4D }),
  dispose() {},
} as unknown as FeatureNetwork;
const executor = tfjsExecutor(network);

/** The executor's total for `terms` at `x` (a function for finite differences). */
function total(terms: Term[]): (x: tf.Tensor) => tf.Scalar {
  return (x) => {
    const { values, grad } = executor.evaluate(x as tf.Tensor4D, terms);
    grad.dispose();
    return tf.tidy(() => tf.slice(values, [0], [1]).reshape([]) as tf.Scalar);
  };
}

function assertTermGradient(terms: Term[], x: tf.Tensor4D) {
  const { values, grad } = executor.evaluate(x, terms);
  const analytic = grad.dataSync();
  const numeric = numericGradient(total(terms), x);
  const scale = Math.max(...numeric.map(Math.abs));
  assert.ok(scale > 0, "the gradient is not all zero");
  numeric.forEach((n, i) =>
    assert.ok(
      Math.abs(n - analytic[i]) <= 2e-3 * scale + 1e-5,
      `component ${i}: numeric ${n}, analytic ${analytic[i]}`,
    )
  );
  tf.dispose([values, grad]);
}

Deno.test("gram() is FᵀF / (H·W·C), as computed by hand", () => {
  // H=1, W=2, C=2: pixels (1, 2) and (3, 4).
  const f = tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]);
  const g = gram(f);
  // FᵀF = [[1·1+3·3, 1·2+3·4], [2·1+4·3, 2·2+4·4]] = [[10, 14], [14, 20]]; / 4.
  assert.deepEqual(Array.from(g.dataSync()), [2.5, 3.5, 3.5, 5]);
  tf.dispose([f, g]);
});

Deno.test("the tv term is the mean squared difference of vertical plus horizontal neighbours", () => {
  const x = tf.tensor4d([0, 1, 3, 6], [1, 2, 2, 1]);
  // down: (3-0)², (6-1)² -> 34 over 2 pairs (of 3 channels' worth: the term counts RGB);
  // right: (1-0)², (6-3)² -> 10 over 2 pairs.
  const term = { ...tvTerm(1, [2, 2]), down: 1 / 2, right: 1 / 2 };
  const { values, grad } = executor.evaluate(x, [term]);
  assert.deepEqual(Array.from(values.dataSync()), [22, 0, 0, 22]);
  // tvTerm divides by the pairs of all three channels: 2·2·3 each way.
  assert.deepEqual([tvTerm(6, [2, 2]).down, tvTerm(6, [2, 2]).right], [6 / 6, 6 / 6]);
  tf.dispose([x, values, grad]);
});

Deno.test("each term lands in its group: [total, content, style, tv]", () => {
  const x = tf.randomNormal([1, 3, 4, 3], 0, 1, "float32", 7) as tf.Tensor4D;
  const target = tf.zeros([1, 3, 4, 3]) as tf.Tensor4D;
  const gramTarget = tf.zeros([3, 3]) as tf.Tensor2D;
  const terms: Term[] = [
    { kind: "content", layer: "l", weight: 1, target },
    { kind: "style", layer: "l", weight: 1, target: gramTarget },
    tvTerm(1, [3, 4]),
  ];
  const { values, grad } = executor.evaluate(x, terms);
  const [sum, content, style, tv] = values.dataSync();
  assert.ok(content > 0 && style > 0 && tv > 0);
  assert.ok(Math.abs(sum - (content + style + tv)) < 1e-5 * sum);
  tf.dispose([x, target, gramTarget, values, grad]);
});

Deno.test("content term: value by hand, a mask weighs each position, gradient matches finite differences", () => {
  const target = tf.randomNormal([1, 3, 2, 3], 0, 0.5, "float32", 1) as tf.Tensor4D;
  const x = tf.randomNormal([1, 3, 2, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const mask = tf.tensor4d([1, 0, 0.5, 1, 0, 1], [1, 3, 2, 1]);
  const term: Term = { kind: "content", layer: "l", weight: 0.7, target, mask };
  const { values, grad } = executor.evaluate(x, [term]);
  const byHand = tf.tidy(() =>
    tf.mul(tf.sum(tf.mul(tf.squaredDifference(tf.tanh(tf.mul(x, 2)), target), mask)), 0.7)
      .dataSync()[0]
  );
  assert.ok(Math.abs(values.dataSync()[1] - byHand) < 1e-5 * byHand);
  // Masked-out positions get no gradient.
  const g = grad.dataSync();
  assert.deepEqual([g[3], g[4], g[5]].map(Math.abs), [0, 0, 0]);
  assertTermGradient([term], x);
  tf.dispose([target, x, mask, values, grad]);
});

Deno.test("style term: gradient matches finite differences", () => {
  const style = tf.randomNormal([1, 3, 3, 2], 0, 1, "float32", 3) as tf.Tensor4D;
  const target = gram(style);
  const x = tf.randomNormal([1, 3, 3, 2], 0, 1, "float32", 4) as tf.Tensor4D;
  assertTermGradient([{ kind: "style", layer: "l", weight: 10, target }], x);
  tf.dispose([style, target, x]);
});

Deno.test("tv term with a mask: gradient matches finite differences", () => {
  const x = tf.randomNormal([1, 3, 4, 2], 0, 1, "float32", 5) as tf.Tensor4D;
  const mask = tf.tensor4d([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1], [1, 3, 4, 1]);
  assertTermGradient([tvTerm(1, [3, 4])], x);
  assertTermGradient([tvTerm(1, [3, 4], mask)], x);
  tf.dispose([x, mask]);
});

Deno.test("the styleSeed term's gradient is the style term's at the positions its mask owns", () => {
  // Two tiles (left and right columns) each owning their half: the seeds' gradients sum
  // to the whole map's style gradient, which is how tiled stages stay exact.
  const x = tf.randomNormal([1, 3, 4, 2], 0, 1, "float32", 6) as tf.Tensor4D;
  const target = tf.tidy(() =>
    gram(tf.randomNormal([1, 4, 4, 2], 0, 1, "float32", 7) as tf.Tensor4D)
  );
  const weight = 3;
  const style = executor.evaluate(x, [{ kind: "style", layer: "l", weight, target }]);
  const f = tf.tanh(tf.mul(x, 2)) as tf.Tensor4D;
  const k = f.size;
  // M = 2·∂L/∂G / k, ∂L/∂G = 2·weight·(G - T).
  const seed = tf.tidy(() => tf.mul(tf.sub(gram(f), target), (4 * weight) / k)) as tf.Tensor2D;
  const halves = [0, 1].map((side) =>
    tf.tensor4d(Array.from({ length: 12 }, (_, i) => ((i % 4 < 2) === (side === 0) ? 1 : 0)), [
      1,
      3,
      4,
      1,
    ])
  );
  const parts = halves.map((mask) =>
    executor.evaluate(x, [{ kind: "styleSeed", layer: "l", seed, mask }])
  );
  const sum = tf.add(parts[0].grad, parts[1].grad);
  const error = tf.tidy(() =>
    tf.div(tf.norm(tf.sub(sum, style.grad)), tf.norm(style.grad)).dataSync()[0]
  );
  assert.ok(error < 1e-5, `relative error ${error}`);
  tf.dispose([x, target, f, seed, sum, style.values, style.grad, ...halves]);
  parts.forEach((p) => tf.dispose([p.values, p.grad]));
});
