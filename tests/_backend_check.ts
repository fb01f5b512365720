/**
 * The engine's core on one backend (RESTYLE_BACKEND), run by backends_test.ts in
 * its own process: Gram, a style-loss gradient, and a short real transfer.
 * Prints one JSON line with what it measured; exits non-zero on failure.
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend.ts";
import { gram } from "../src/ops/gram.ts";
import { tfjsExecutor } from "../src/executors/tfjs.ts";
import type { FeatureNetwork } from "../src/net/network.ts";
import { stylize } from "../src/engine/stylize.ts";
import { decodeImage } from "../src/image/codec.ts";
import { getNetwork } from "../src/net/load.ts";

const info = await initBackend();
// WebGPU in Deno cannot read back synchronously: every read here is async.
async function read(t: tf.Tensor): Promise<number[]> {
  const values = Array.from(await t.data());
  t.dispose();
  return values;
}
const gramValues = await read(tf.tidy(() => gram(tf.tensor4d([1, 2, 3, 4], [1, 1, 2, 2]))));

// ∂/∂x of the style loss at one coordinate, analytic vs central difference.
const x = tf.randomNormal([1, 3, 3, 2], 0, 1, "float32", 4) as tf.Tensor4D;
const target = {
  l: tf.tidy(() => gram(tf.randomNormal([1, 3, 3, 2], 0, 1, "float32", 3) as tf.Tensor4D)),
};
// The tfjs executor's style term on a one-layer stand-in network whose layer is the image.
const identity = { features: (x: tf.Tensor4D) => ({ l: x }) } as unknown as FeatureNetwork;
const evaluate = (x: tf.Tensor4D) =>
  tfjsExecutor(identity).evaluate(x, [{
    kind: "style",
    layer: "l",
    weight: 0.25,
    target: target.l,
  }]);
const first = evaluate(x);
const analytic = (await read(first.grad))[5];
first.values.dispose();
const at = async (delta: number) => {
  const shifted = tf.tidy(() => tf.add(x, tf.mul(tf.oneHot(5, 18).reshape(x.shape), delta)));
  const { values, grad } = evaluate(shifted as tf.Tensor4D);
  tf.dispose([shifted, grad]);
  return (await read(values))[0];
};
const numeric = (await at(0.05) - await at(-0.05)) / 0.1;
tf.dispose([x, target.l]);

const images = `${Deno.env.get("RESTYLE_MIRROR")}/images`;
const content = await decodeImage(await Deno.readFile(`${images}/cat.png`));
const style = await decodeImage(await Deno.readFile(`${images}/starry-night.jpg`));
const network = await getNetwork("squeezenet");
const totals: number[] = [];
let size: number[] = [];
const started = performance.now();
for await (
  const step of stylize({
    content,
    styles: [style],
    network,
    options: { maxSize: 64, maxDetailSize: 64, iterations: 5, previewEvery: 5, seed: 1 },
  })
) {
  totals.push(step.losses.total);
  if (step.image) size = [step.image.width, step.image.height];
}
console.log(JSON.stringify({
  backend: tf.getBackend(),
  adapter: info.adapter,
  gram: gramValues,
  gradient: { analytic, numeric },
  totals,
  size,
  ms: Math.round(performance.now() - started),
}));
Deno.exit(0);
