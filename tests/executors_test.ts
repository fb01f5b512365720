/**
 * One objective, every executor: tfjs (on wasm) and ONNX Runtime, each whole and
 * tiled, give the same loss and image-gradient (to 1e-4 relative) as tfjs on the
 * whole image, for SqueezeNet, GoogLeNet and a VGG16-shaped network with seeded
 * random weights, at two odd sizes.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { resolveRun } from "../src/engine/run.ts";
import { asTiledTargets, disposeTargets, stageTargets } from "../src/engine/targets.ts";
import type { Evaluation, Executor } from "../src/executors/executor.ts";
import { onnxExecutor, tfjsExecutor } from "../src/executors/mod.ts";
import { onTensors, tiledObjective } from "../src/executors/tiled.ts";
import { reachOf, tileGrid } from "../src/executors/tiles.ts";
import { lossLayers, wholeImageTerms } from "../src/loss/terms.ts";
import { type GraphNetwork, layersOf } from "../src/net/graph.ts";
import { getNetwork } from "../src/net/load.ts";
import type { NetworkId } from "../src/net/network.ts";
import { createVgg16, randomVgg16Weights } from "../src/net/vgg16.ts";
import { installWeights } from "../src/weights/install.ts";

await initBackend("onnx"); // tfjs runs on wasm beside ONNX Runtime

/** The networks compared, as their presets build them; VGG16's layers kept shallow enough to tile. */
const cases: { id: NetworkId; options: object; sizes: [number, number][] }[] = [
  { id: "squeezenet", options: {}, sizes: [[101, 131], [147, 83]] },
  { id: "googlenet", options: {}, sizes: [[103, 133], [141, 87]] },
  {
    id: "vgg16",
    options: {
      contentLayers: { block2_conv2: 1 },
      styleLayers: { block1_conv2: 0.5, block2_conv2: 1, block3_conv3: 1 },
    },
    sizes: [[61, 77], [83, 59]],
  },
];

async function network(id: NetworkId): Promise<GraphNetwork> {
  if (id === "vgg16") {
    return createVgg16(randomVgg16Weights(3, 0.25), { pooling: "blur", padding: "reflect" });
  }
  await installWeights(id);
  return getNetwork(id, { pooling: "blur", padding: "reflect" });
}

function rgb(h: number, w: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([1, h, w, 3], 0, 255, "float32", seed) as tf.Tensor4D;
}

/** ‖a - b‖ / ‖b‖. */
function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.norm(tf.sub(a, b)), tf.norm(b)).dataSync()[0]);
}

for (const { id, options, sizes } of cases) {
  Deno.test(`${id}: tfjs and ONNX Runtime, whole and tiled, agree on the loss and its gradient`, async () => {
    const net = await network(id);
    const parsed = stylizeOptionsSchema.parse({ network: id, tvWeight: 1e-4, ...options });
    const { loss } = resolveRun(parsed, net);
    const reach = reachOf(layersOf(net)!, lossLayers(loss));
    const executors: Executor[] = [tfjsExecutor(net), onnxExecutor(layersOf(net)!)];
    for (const [h, w] of sizes) {
      const content = rgb(h, w, 1);
      const style = rgb(w + 5, h - 3, 2);
      const targets = await stageTargets(executors[0], net, content, [{
        images: [style],
        blend: [1],
      }], loss);
      const terms = wholeImageTerms(loss, targets, [h, w]);
      const x: tf.Tensor4D = tf.tidy(() =>
        tf.add(net.preprocess(content), tf.randomNormal([1, h, w, 3], 0, 20, "float32", 3))
      );
      const tile = 2 * reach.stride;
      const host = await asTiledTargets(targets, content);
      const reference = executors[0].evaluate(x, terms);
      const want = await reference.values.data();
      assert.ok(want.slice(0, 4).every((v) => v > 0), `every term is on: ${want}`);
      for (const executor of executors) {
        const tiled = onTensors(tiledObjective(executor, net, loss, host, { tile, reach }));
        const tiles = tileGrid([h, w], tile, reach, [0, 0], executor.fixedShapes).length;
        assert.ok(tiles >= 4, `${tiles} tiles`);
        const results: [string, Evaluation][] = [
          ["whole", executor.evaluate(x, terms)],
          ["tiled", await tiled(x)],
        ];
        for (const [how, result] of results) {
          const label = `${id} ${h}x${w} ${executor.name} ${how}`;
          const got = await result.values.data();
          for (let i = 0; i < 4; i++) {
            assert.ok(
              Math.abs(got[i] - want[i]) <= 1e-4 * Math.abs(want[i]),
              `${label}: term ${i} is ${got[i]}, tfjs whole ${want[i]}`,
            );
          }
          const error = relativeError(result.grad, reference.grad);
          assert.ok(error <= 1e-4, `${label}: gradient relative error ${error}`);
          tf.dispose([result.values, result.grad]);
        }
      }
      // A halo narrower than the layers' reach gets the tile edges wrong: the check can fail.
      const narrow = { tile, reach: { ...reach, halo: reach.stride } };
      const broken = await onTensors(tiledObjective(executors[1], net, loss, host, narrow))(x);
      const wrong = relativeError(broken.grad, reference.grad);
      assert.ok(wrong > 5e-4, `a narrow halo is caught: ${wrong}`);
      tf.dispose([content, style, x, reference.values, reference.grad, broken.values, broken.grad]);
      disposeTargets(targets);
    }
    executors[1].release();
    if (id === "vgg16") net.dispose();
  });
}

Deno.test("the two executors' measurements agree: content activations, masked Gram and square sums", async () => {
  const net = await network("googlenet");
  const layers = ["conv2/3x3", "inception_3b/output"];
  const x = tf.tidy(() => net.preprocess(rgb(77, 93, 4)));
  const sizes = net.outputSizes!([77, 93], layers);
  // Half of each map, as a tile owns its part.
  const masks = Object.fromEntries(layers.map((l) => {
    const [h, w] = sizes[l];
    const data = Float32Array.from({ length: h * w }, (_, i) => (i % w < w / 2 ? 1 : 0));
    return [l, tf.tensor4d(data, [1, h, w, 1])];
  }));
  const [a, b] = [tfjsExecutor(net), onnxExecutor(layersOf(net)!)].map((e) =>
    e.measure(x, { features: layers, grams: layers, masks })
  );
  for (const l of layers) {
    assert.ok(relativeError(b.features[l], a.features[l]) < 1e-5, `${l} features`);
    assert.ok(relativeError(b.gramSums[l], a.gramSums[l]) < 1e-5, `${l} Gram sum`);
    const [sa, sb] = [a.squareSums[l].dataSync()[0], b.squareSums[l].dataSync()[0]];
    assert.ok(Math.abs(sa - sb) < 1e-5 * sa, `${l} square sum ${sa} vs ${sb}`);
    assert.equal(a.mapSizes[l], b.mapSizes[l]);
    // The mask halves the sums: the unmasked ones are larger.
    const whole = tfjsExecutor(net).measure(x, { grams: [l] });
    assert.ok(whole.squareSums[l].dataSync()[0] > sa * 1.2, `${l}: the mask takes effect`);
    tf.dispose([...Object.values(whole.gramSums), ...Object.values(whole.squareSums)]);
  }
  for (const m of [a, b]) {
    tf.dispose([
      ...Object.values(m.features),
      ...Object.values(m.gramSums),
      ...Object.values(m.squareSums),
    ]);
  }
  tf.dispose([x, ...Object.values(masks)]);
});
