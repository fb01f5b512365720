/**
 * No tensor is left behind when a run fails: failures are injected at every
 * stage (targets, the first evaluation, line-search trials, later steps; before
 * any op and half-way through the forward pass) and `tf.memory().numTensors`
 * is compared before and after.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend.ts";
import { adam } from "../src/engine/adam.ts";
import { lbfgs } from "../src/engine/lbfgs.ts";
import type { Objective } from "../src/engine/optimizer.ts";
import { stylize, type StylizeInput } from "../src/engine/stylize.ts";
import { valueAndGrad } from "../src/ops/tape.ts";
import { convRelu } from "../src/ops/conv.ts";
import type { FeatureNetwork } from "../src/net/network.ts";
import { rampImage, tinyNetwork } from "./_tiny_net.ts";

await initBackend();

const content = rampImage(20, 12);
const style = rampImage(16, 16);

/** A quadratic objective that throws on its `failOn`-th call, half-way through its forward pass. */
function failingObjective(failOn: number): Objective {
  let calls = 0;
  const f = valueAndGrad((x: tf.Tensor) => {
    const y = tf.square(tf.sub(x, 3));
    if (++calls === failOn) throw new Error(`objective failed on call ${failOn}`);
    return tf.sum(y) as tf.Scalar;
  });
  return (x) => {
    const { value, grad } = f(x);
    const values = tf.reshape(value, [1]) as tf.Tensor1D;
    value.dispose();
    return { values, grad };
  };
}

/** One gradient through every layer of `network`. */
function warmUp(network: FeatureNetwork): void {
  const x = tf.zeros([1, 8, 8, 3]) as tf.Tensor4D;
  const { value, grad } = tf.valueAndGrad((x: tf.Tensor4D) =>
    tf.addN(Object.values(network.features(x, network.layers)).map((t) => tf.sum(t))) as tf.Scalar
  )(x);
  tf.dispose([x, value, grad]);
}

async function run(input: StylizeInput): Promise<void> {
  for await (const _ of stylize(input)) { /* run to the end */ }
}

Deno.test("lbfgs() and adam() free everything when the objective throws at any call", async () => {
  const box = (x: tf.Tensor) => tf.clipByValue(x, -10, 10);
  const starts = {
    lbfgs: (f: Objective, x0: tf.Tensor) => lbfgs(f, x0, { project: box }),
    adam: (f: Objective, x0: tf.Tensor) => adam(f, x0, { project: box }),
  };
  for (const [name, start] of Object.entries(starts)) {
    for (const failOn of [1, 2, 3, 5]) {
      const x0 = tf.tensor1d([0, 1, 2, 5]);
      const before = tf.memory().numTensors;
      await assert.rejects(async () => {
        const opt = await start(failingObjective(failOn), x0);
        try {
          for (let i = 0; i < 5; i++) await opt.step();
        } finally {
          opt.dispose();
        }
      }, /objective failed/);
      assert.equal(tf.memory().numTensors, before, `${name}, failing on call ${failOn}`);
      x0.dispose();
    }
  }
});

Deno.test("valueAndGrad() frees what the forward pass saved for the backward when it throws", () => {
  const layer = {
    filter: tf.randomNormal([3, 3, 3, 4], 0, 0.1, "float32", 1) as tf.Tensor4D,
    bias: tf.zeros([4]) as tf.Tensor1D,
    stride: 1,
    pad: 1,
  };
  const x = tf.randomNormal([1, 8, 8, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  assert.throws(
    () =>
      valueAndGrad((x: tf.Tensor4D) => {
        const y = tf.relu(convRelu(x, layer)); // both save tensors for their gradients
        if (y.size > 0) throw new Error("thrown after the convolution");
        return tf.sum(y) as tf.Scalar;
      })(x),
    /after the convolution/,
  );
  assert.equal(tf.memory().numTensors, before);
  // Plain tf.valueAndGrad keeps them: this is what the wrapper is for.
  assert.throws(() =>
    tf.valueAndGrad((x: tf.Tensor4D) => {
      const y = tf.relu(convRelu(x, layer));
      if (y.size > 0) throw new Error("thrown after the convolution");
      return tf.sum(y) as tf.Scalar;
    })(x)
  );
  assert.ok(tf.memory().numTensors > before, "tfjs itself leaks the saved tensors");
  tf.dispose([layer.filter, layer.bias, x]);
});

Deno.test("stylize() frees every tensor when the network fails at any call, before or mid-forward", async () => {
  // Calls: 1 content targets, 2 style targets, 3 the optimiser's first evaluation,
  // 4.. line-search trials and later steps; with two scales, the second stage's too.
  for (const optimizer of ["lbfgs", "adam"] as const) {
    for (const failAt of ["start", "middle"] as const) {
      for (const failOnCall of [1, 2, 3, 4, 6, 9]) {
        // One warm-up call first: on wasm it caches the convolutions' backward kernels, which
        // live as long as the network does and are not a leak.
        const network = tinyNetwork({ failOnCall: failOnCall + 1, failAt });
        warmUp(network);
        const before = tf.memory().numTensors;
        await assert.rejects(
          run({
            content,
            styles: [style, style],
            network,
            options: { scales: [16, 20], iterations: 6, optimizer, previewEvery: 2 },
          }),
          /failed on purpose/,
        );
        assert.equal(
          tf.memory().numTensors,
          before,
          `${optimizer}, failing ${failAt === "start" ? "before any op" : "mid-forward"} ` +
            `on call ${failOnCall}`,
        );
        network.dispose();
      }
    }
  }
});
