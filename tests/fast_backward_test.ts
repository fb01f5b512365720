/**
 * On every network, the fast backward pass gives the engine's loss the same
 * image-gradient as tfjs's default gradients (relative error below 1e-4).
 *
 * SqueezeNet and GoogLeNet use their real trained weights (`deno task weights`
 * converts them from `RESTYLE_MIRROR`); VGG16 uses random weights, since its
 * trained ones are not available here.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../src/backend.ts";
import { setFastBackward } from "../src/ops/fast_backward.ts";
import { releaseBackwardKernels } from "../src/ops/_flipped.ts";
import { loadNetwork } from "../src/net/load.ts";
import { createVgg16, randomVgg16Weights } from "../src/net/vgg16.ts";
import type { FeatureNetwork, NetworkId } from "../src/net/network.ts";
import { makeObjective } from "../bench/_objective.ts";

await initBackend();

function open(id: NetworkId): Promise<FeatureNetwork> {
  return id === "vgg16" ? Promise.resolve(createVgg16(randomVgg16Weights())) : loadNetwork(id);
}

async function gradientsWithAndWithout(id: NetworkId, size: number) {
  const network = await open(id);
  const objective = await makeObjective(network, size);
  try {
    const run = (fast: boolean) => {
      setFastBackward(fast);
      try {
        return objective.evaluate();
      } finally {
        setFastBackward(true);
      }
    };
    const fast = run(true);
    const slow = run(false);
    const [fastLoss, slowLoss] = [fast.value.dataSync()[0], slow.value.dataSync()[0]];
    const error = tf.tidy(() =>
      tf.max(tf.abs(tf.sub(fast.grad, slow.grad))).dataSync()[0] /
      tf.max(tf.abs(slow.grad)).dataSync()[0]
    );
    const gradScale = tf.tidy(() => tf.max(tf.abs(slow.grad)).dataSync()[0]);
    tf.dispose([fast.value, fast.grad, slow.value, slow.grad]);
    return { fastLoss, slowLoss, error, gradScale };
  } finally {
    objective.dispose();
    network.dispose();
  }
}

for (const [id, size] of [["squeezenet", 96], ["googlenet", 96], ["vgg16", 64]] as const) {
  Deno.test(`${id}: the fast image-gradient of the engine's loss equals tfjs's at ${size} px`, async () => {
    releaseBackwardKernels();
    const before = tf.memory().numTensors;
    const { fastLoss, slowLoss, error, gradScale } = await gradientsWithAndWithout(id, size);
    if (Deno.env.get("RESTYLE_TEST_VERBOSE")) console.log({ id, fastLoss, slowLoss, error });
    assert.ok(gradScale > 0, "the gradient is not all zeros");
    assert.ok(
      Math.abs(fastLoss - slowLoss) <= 1e-5 * Math.abs(slowLoss),
      `${fastLoss} vs ${slowLoss}`,
    );
    assert.ok(error < 1e-4, `relative error ${error}`);
    releaseBackwardKernels();
    assert.equal(tf.memory().numTensors, before, "no tensor leaked");
  });
}
