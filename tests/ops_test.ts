/**
 * The fast image-gradient of each op equals tfjs's default gradient.
 *
 * Each case differentiates the same scalar function of a random input twice,
 * once with the fast backward pass and once without, and compares.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../src/backend.ts";
import { convInputGradient, type ConvLayer, convRelu, reflects } from "../src/ops/conv.ts";
import { setFastBackward } from "../src/ops/fast_backward.ts";
import { gram } from "../src/ops/gram.ts";
import { reflectPad } from "../src/ops/pad.ts";
import { reflectBySlices } from "./_reflect.ts";
import { caffePool } from "../src/ops/pool.ts";
import { caffePooledSize } from "../src/ops/layer_op.ts";
import { releaseBackwardKernels } from "../src/ops/_flipped.ts";

await initBackend();

/** Max |a - b| / max |b|: one number that is small only if every element agrees. */
function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => {
    const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    const scale = tf.max(tf.abs(b)).dataSync()[0];
    return diff / scale;
  });
}

/** d f / d x. */
function imageGrad(f: (x: tf.Tensor4D) => tf.Scalar, x: tf.Tensor4D): tf.Tensor {
  return tf.grad((t: tf.Tensor) => f(t as tf.Tensor4D))(x);
}

/** The gradient of `f` at `x`, with the fast backward pass on or off. */
function gradient(f: (x: tf.Tensor4D) => tf.Scalar, x: tf.Tensor4D, fast: boolean): tf.Tensor {
  setFastBackward(fast);
  try {
    return imageGrad(f, x);
  } finally {
    setFastBackward(true);
  }
}

function randomConv(k: number, cin: number, cout: number, stride: number, pad: number): ConvLayer {
  return {
    filter: tf.randomNormal([k, k, cin, cout], 0, Math.sqrt(2 / (k * k * cin)), "float32", 1),
    bias: tf.randomNormal([cout], 0, 0.1, "float32", 2),
    stride,
    pad,
  };
}

function disposeConv(layer: ConvLayer) {
  layer.filter.dispose();
  layer.bias.dispose();
}

// A loss that weights every output element differently, so a transposed or
// shifted gradient cannot pass by symmetry.
function weightedSum(y: tf.Tensor): tf.Scalar {
  const w = tf.randomUniform(y.shape, -1, 1, "float32", 3);
  return tf.sum(tf.mul(y, w));
}

const convCases: [string, number, number, number][] = [
  // name, kernel, stride, pad  (the networks' shapes)
  ["3x3 stride 1 pad 1 (VGG16, fire expand)", 3, 1, 1],
  ["1x1 stride 1 pad 0 (fire squeeze, inception)", 1, 1, 0],
  ["5x5 stride 1 pad 2 (inception 5x5)", 5, 1, 2],
  ["3x3 stride 2 pad 0 (SqueezeNet conv1)", 3, 2, 0],
  ["7x7 stride 2 pad 3 (GoogLeNet conv1)", 7, 2, 3],
];

for (const [name, k, stride, pad] of convCases) {
  for (const size of [17, 24]) {
    Deno.test(`convRelu() fast image-gradient equals tfjs's for ${name} at ${size} px`, () => {
      const layer = randomConv(k, 5, 7, stride, pad);
      const x = tf.randomNormal([1, size, size + 3, 5], 0, 1, "float32", 4) as tf.Tensor4D;
      const f = (input: tf.Tensor4D) => weightedSum(convRelu(input, layer));
      const fast = gradient(f, x, true);
      const slow = gradient(f, x, false);
      assert.deepEqual(fast.shape, x.shape);
      assert.ok(relativeError(fast, slow) < 1e-5, `relative error ${relativeError(fast, slow)}`);
      tf.dispose([fast, slow, x]);
      disposeConv(layer);
    });
  }
}

Deno.test("convRelu() forward output is the same with the fast backward pass on or off", () => {
  const layer = randomConv(3, 4, 6, 2, 1);
  const x = tf.randomNormal([1, 15, 12, 4], 0, 1, "float32", 5) as tf.Tensor4D;
  setFastBackward(false);
  const slow = convRelu(x, layer);
  setFastBackward(true);
  const fast = convRelu(x, layer);
  assert.ok(relativeError(fast, slow) < 1e-6);
  tf.dispose([x, slow, fast]);
  disposeConv(layer);
});

Deno.test("convInputGradient() matches tf.conv2dTranspose for a strided, padded convolution", () => {
  const layer = randomConv(3, 3, 8, 2, 1);
  const dz = tf.randomNormal([1, 8, 8, 8], 0, 1, "float32", 6) as tf.Tensor4D;
  const ours = convInputGradient(dz, layer, [1, 16, 16, 3]);
  const theirs = tf.conv2dTranspose(dz, layer.filter, [1, 16, 16, 3], 2, [[0, 0], [1, 1], [1, 1], [
    0,
    0,
  ]]);
  assert.ok(relativeError(ours, theirs) < 1e-5);
  tf.dispose([dz, ours, theirs]);
  disposeConv(layer);
});

const stridedCases: [string, number, number][] = [
  ["3x3 stride 2 pad 0 (SqueezeNet conv1)", 3, 0],
  ["7x7 stride 2 pad 3 (GoogLeNet conv1)", 7, 3],
];

for (const [name, k, pad] of stridedCases) {
  // Odd and even sizes, including ones whose last row or column no output reads.
  for (const [h, w] of [[16, 17], [19, 22], [7, 8]]) {
    Deno.test(`convInputGradient() equals tfjs's conv2dTranspose for ${name} on ${h}x${w}`, () => {
      const layer = randomConv(k, 3, 8, 2, pad);
      const [oh, ow] = [h, w].map((size) => Math.floor((size + 2 * pad - k) / 2) + 1);
      const dz = tf.randomNormal([2, oh, ow, 8], 0, 1, "float32", 7) as tf.Tensor4D;
      const ours = convInputGradient(dz, layer, [2, h, w, 3]);
      const theirs = tf.conv2dTranspose(dz, layer.filter, [2, h, w, 3], 2, [
        [0, 0],
        [pad, pad],
        [pad, pad],
        [0, 0],
      ]);
      assert.deepEqual(ours.shape, [2, h, w, 3]);
      assert.ok(
        relativeError(ours, theirs) < 1e-5,
        `relative error ${relativeError(ours, theirs)}`,
      );
      tf.dispose([dz, ours, theirs]);
      disposeConv(layer);
    });
  }
}

Deno.test("convRelu() gradient leaks no tensors once a filter's backward kernel exists", () => {
  const layer = randomConv(3, 3, 4, 1, 1);
  const x = tf.randomNormal([1, 8, 8, 3]) as tf.Tensor4D;
  const f = (input: tf.Tensor4D) => tf.sum(convRelu(input, layer)) as tf.Scalar;
  imageGrad(f, x).dispose(); // first use caches the flipped kernel
  const before = tf.memory().numTensors;
  imageGrad(f, x).dispose();
  assert.equal(tf.memory().numTensors, before);
  disposeConv(layer);
  x.dispose();
  releaseBackwardKernels();
});

Deno.test("a disposed filter's cached backward kernel is freed on the next new filter", () => {
  const start = tf.memory().numTensors;
  const first = randomConv(3, 2, 2, 1, 1);
  const x = tf.ones([1, 4, 4, 2]) as tf.Tensor4D;
  imageGrad((input) => tf.sum(convRelu(input, first)), x).dispose();
  disposeConv(first);
  const second = randomConv(3, 2, 2, 1, 1);
  imageGrad((input) => tf.sum(convRelu(input, second)), x).dispose();
  // x, second's filter and bias, and second's backward kernel: first's is gone.
  assert.equal(tf.memory().numTensors, start + 4);
  disposeConv(second);
  x.dispose();
  releaseBackwardKernels();
});

Deno.test("gram() value and image-gradient are the same with the fast backward pass on or off", () => {
  const x = tf.randomNormal([1, 9, 7, 6], 0, 1, "float32", 7) as tf.Tensor4D;
  const target = tf.randomNormal([6, 6], 0, 1, "float32", 8);
  const f = (input: tf.Tensor4D) => tf.sum(tf.square(tf.sub(gram(input), target))) as tf.Scalar;
  setFastBackward(false);
  const slowValue = gram(x);
  setFastBackward(true);
  const fastValue = gram(x);
  assert.ok(relativeError(fastValue, slowValue) < 1e-6);
  const fast = gradient(f, x, true);
  const slow = gradient(f, x, false);
  assert.ok(relativeError(fast, slow) < 1e-5, `relative error ${relativeError(fast, slow)}`);
  tf.dispose([x, target, slowValue, fastValue, fast, slow]);
});

for (const [name, size] of [["even", [14, 12]], ["odd", [13, 11]]] as const) {
  Deno.test(`caffePool() blur image-gradient is the same with the fast backward pass on or off: ${name}`, () => {
    const spec = { kernel: 3, stride: 2, pad: 0, kind: "blur" as const };
    const x = tf.relu(tf.randomNormal([1, ...size, 4], 0, 1, "float32", 9)) as tf.Tensor4D;
    const f = (input: tf.Tensor4D) => weightedSum(caffePool(input, spec));
    setFastBackward(false);
    const slowValue = caffePool(x, spec);
    setFastBackward(true);
    const fastValue = caffePool(x, spec);
    assert.ok(relativeError(fastValue, slowValue) < 1e-6);
    const fast = gradient(f, x, true);
    const slow = gradient(f, x, false);
    assert.ok(relativeError(fast, slow) < 1e-6, `relative error ${relativeError(fast, slow)}`);
    tf.dispose([x, slowValue, fastValue, fast, slow]);
  });
}

Deno.test("caffePool() avg image-gradient is the same with the fast backward pass on or off", () => {
  const spec = { kernel: 3, stride: 2, pad: 0, kind: "avg" as const };
  const x = tf.relu(tf.randomNormal([1, 14, 12, 4], 0, 1, "float32", 9)) as tf.Tensor4D;
  const f = (input: tf.Tensor4D) => weightedSum(caffePool(input, spec));
  const fast = gradient(f, x, true);
  const slow = gradient(f, x, false);
  assert.deepEqual(caffePool(x, spec).shape, [1, 7, 6, 4]);
  assert.equal(caffePooledSize(14, spec), 7);
  assert.ok(relativeError(fast, slow) < 1e-6);
  tf.dispose([x, fast, slow]);
});

/**
 * Caffe max pooling's input-gradient, one window at a time: each output's
 * gradient goes to the first maximum of its window (row-major), windows
 * reaching into padding included. The reference the fast path must match.
 */
function maxPoolGradientByHand(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  spec: { kernel: number; stride: number; pad: number },
): Float32Array {
  const [, h, w, c] = x.shape;
  const [, oh, ow] = dy.shape;
  const xs = x.dataSync();
  const dys = dy.dataSync();
  const dx = new Float32Array(xs.length);
  const { kernel: k, stride: s, pad: p } = spec;
  for (let o = 0; o < oh; o++) {
    for (let q = 0; q < ow; q++) {
      for (let ch = 0; ch < c; ch++) {
        let best = -Infinity;
        let at = -1;
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) {
            const [r, col] = [o * s - p + i, q * s - p + j];
            if (r < 0 || r >= h || col < 0 || col >= w) continue;
            const idx = (r * w + col) * c + ch;
            if (xs[idx] > best) [best, at] = [xs[idx], idx];
          }
        }
        dx[at] += dys[(o * ow + q) * c + ch];
      }
    }
  }
  return dx;
}

const poolCases: [string, number, number, number, number[]][] = [
  ["3x3 stride 2, ceil mode padding the far edge", 3, 2, 0, [1, 14, 12, 4]],
  ["3x3 stride 2, windows fitting exactly", 3, 2, 0, [1, 15, 13, 4]],
  ["3x3 stride 1 pad 1 (inception branch)", 3, 1, 1, [1, 9, 10, 3]],
  ["2x2 stride 2", 2, 2, 0, [1, 8, 10, 2]],
];

for (const [name, kernel, stride, pad, shape] of poolCases) {
  Deno.test(`caffePool() max fast image-gradient routes to each window's first maximum: ${name}`, () => {
    const spec = { kernel, stride, pad, kind: "max" as const };
    // Distinct values (no ties): a permutation of 0..n-1, scaled.
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: size }, (_, i) => ((i * 7919) % size) / size);
    const x = tf.tensor4d(values, shape as [number, number, number, number]);
    const dy = tf.randomUniform(caffePool(x, spec).shape, -1, 1, "float32", 3) as tf.Tensor4D;
    const f = (input: tf.Tensor4D) => tf.sum(tf.mul(caffePool(input, spec), dy)) as tf.Scalar;
    const fast = gradient(f, x, true);
    const expected = tf.tensor(maxPoolGradientByHand(x, dy, spec), x.shape);
    assert.ok(
      relativeError(fast, expected) < 1e-6,
      `relative error ${relativeError(fast, expected)}`,
    );
    tf.dispose([x, dy, fast, expected]);
  });
}

for (const [name, kernel, stride, pad, shape] of poolCases) {
  Deno.test(`caffePool() max fast image-gradient breaks ties for the first maximum in row-major order: ${name}`, () => {
    const spec = { kernel, stride, pad, kind: "max" as const };
    // Three levels, zero the most common (as after a ReLU): most windows hold tied maxima.
    const size = shape.reduce((a, b) => a * b, 1);
    const values = Array.from({ length: size }, (_, i) => Math.max(0, ((i * 7919) % 5) - 2));
    const x = tf.tensor4d(values, shape as [number, number, number, number]);
    const dy = tf.randomUniform(caffePool(x, spec).shape, -1, 1, "float32", 5) as tf.Tensor4D;
    const f = (input: tf.Tensor4D) => tf.sum(tf.mul(caffePool(input, spec), dy)) as tf.Scalar;
    const fast = gradient(f, x, true);
    const expected = tf.tensor(maxPoolGradientByHand(x, dy, spec), x.shape);
    assert.ok(
      relativeError(fast, expected) < 1e-6,
      `relative error ${relativeError(fast, expected)}`,
    );
    tf.dispose([x, dy, fast, expected]);
  });
}

Deno.test("the fast image-gradient runs no Conv2DBackpropInput and no transposed BatchMatMul", async () => {
  const layer = randomConv(3, 3, 8, 2, 1);
  const x = tf.randomNormal([1, 16, 16, 3]) as tf.Tensor4D;
  const f = (input: tf.Tensor4D) => tf.sum(gram(convRelu(input, layer))) as tf.Scalar;
  const kernelsRun = async (fast: boolean) => {
    const info = await tf.profile(() => gradient(f, x, fast));
    return info.kernels.map((k) => k.name);
  };
  const slow = await kernelsRun(false);
  assert.ok(slow.includes("Conv2DBackpropInput"), "the default path is the one being replaced");
  const fast = await kernelsRun(true);
  assert.ok(!fast.includes("Conv2DBackpropInput"), fast.join(","));
  // An untransposed product contracts a's last axis with b's second to last.
  const transposedProducts = async (fast: boolean) => {
    const info = await tf.profile(() => gradient(f, x, fast));
    return info.kernels.filter((k) => {
      const [a, b] = k.inputShapes;
      return k.name === "BatchMatMul" && a.at(-1) !== b.at(-2);
    }).length;
  };
  assert.ok((await transposedProducts(false)) > 0, "the default path is the one being replaced");
  assert.equal(await transposedProducts(true), 0);
  tf.dispose(x);
  disposeConv(layer);
});

Deno.test("reflectPad() mirrors the edge (not repeating it) and its gradient folds the bands back", () => {
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
  assert.deepEqual(
    Array.from(reflectPad(x, 1).dataSync()),
    [5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 8, 7, 8, 9, 8, 5, 4, 5, 6, 5],
  );
  // The reference: the same padding from ops tfjs differentiates exactly.
  const byHand = reflectBySlices;
  const input = tf.randomNormal([1, 9, 7, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  const weights = tf.randomNormal([1, 15, 13, 3], 0, 1, "float32", 6);
  const loss = (pad: (t: tf.Tensor4D, p: number) => tf.Tensor4D) => (t: tf.Tensor4D) =>
    tf.sum(tf.mul(tf.square(pad(t, 3)), weights)) as tf.Scalar;
  assert.ok(relativeError(reflectPad(input, 3), byHand(input, 3)) === 0);
  assert.ok(
    relativeError(imageGrad(loss(reflectPad), input), imageGrad(loss(byHand), input)) < 1e-6,
  );
  assert.throws(() => reflectPad(input, 7), /at least 8x8/);
  tf.dispose([x, input, weights]);
});

Deno.test("a reflect-padded convolution zero-pads a map too small to mirror (no image is refused for it)", () => {
  const filter = tf.randomNormal([3, 3, 2, 4], 0, 1, "float32", 8) as tf.Tensor4D;
  const bias = tf.zeros([4]) as tf.Tensor1D;
  const layer: ConvLayer = { filter, bias, stride: 1, pad: 1, padMode: "reflect" };
  const tiny = tf.randomUniform([1, 1, 5, 2], 0, 1, "float32", 9) as tf.Tensor4D;
  assert.equal(reflects(layer, 1, 5), false);
  assert.equal(reflects(layer, 2, 5), true);
  const zero = convRelu(tiny, { ...layer, padMode: "zero" });
  assert.equal(relativeError(convRelu(tiny, layer), zero), 0);
  tf.dispose([filter, bias, tiny, zero]);
});

Deno.test("caffePool() blur covers every input equally, where a 3x3 stride-2 box doubles every other one", () => {
  const x = tf.randomUniform([1, 17, 17, 2], 0, 1, "float32", 3) as tf.Tensor4D;
  const coverage = (kind: "avg" | "blur") =>
    tf.tidy(() => {
      const g = imageGrad((t) => tf.sum(caffePool(t, { kernel: 3, stride: 2, pad: 0, kind })), x);
      const interior = tf.slice(g, [0, 2, 2, 0], [1, 12, 12, 2]);
      return tf.max(interior).dataSync()[0] / tf.min(interior).dataSync()[0];
    });
  assert.ok(Math.abs(coverage("blur") - 1) < 1e-5, `blur coverage ratio ${coverage("blur")}`);
  assert.ok(coverage("avg") > 3.9, "the box window's lattice is the artefact blur removes");
  // Same ceil-mode size as Caffe's pools; a constant stays that constant.
  const ones = tf.ones([1, 16, 16, 1]) as tf.Tensor4D;
  const pooled = caffePool(ones, { kernel: 3, stride: 2, pad: 0, kind: "blur" });
  assert.deepEqual(pooled.shape, [
    1,
    caffePooledSize(16, { kernel: 3, stride: 2, pad: 0, kind: "blur" }),
    8,
    1,
  ]);
  assert.ok(relativeError(pooled, tf.onesLike(pooled)) < 1e-6);
  tf.dispose([x, ones, pooled]);
});
