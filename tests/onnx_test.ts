/**
 * The native CPU path (`RESTYLE_BACKEND=onnx`): the whole objective as one ONNX
 * Runtime graph must give the tfjs path's losses and image-gradient (to 1e-4
 * relative) on every network, at odd sizes, with both poolings; its targets
 * must equal tfjs's; `stylize()`, the server and the CLI run on it unchanged.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend, onnxActive, pickBackend } from "../src/backend.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { blendGrams, type Features, type Grams } from "../src/engine/losses.ts";
import { lossSetup, styleObjective, stylize, type Targets } from "../src/engine/stylize.ts";
import { type GraphNetwork, layersOf } from "../src/net/graph.ts";
import { getNetwork } from "../src/net/load.ts";
import type { NetworkId } from "../src/net/network.ts";
import { createVgg16, randomVgg16Weights } from "../src/net/vgg16.ts";
import { onnxObjective, onnxStage } from "../src/onnx/mod.ts";
import { installWeights } from "../src/weights/install.ts";
import { encodePng, jobForm, readSse, testServer, tiny } from "./_server.ts";
import { rampImage } from "./_tiny_net.ts";

await initBackend("onnx");

const vgg16Weights = randomVgg16Weights(3, 0.25);

async function network(id: NetworkId, pooling: "max" | "avg"): Promise<GraphNetwork> {
  if (id === "vgg16") return createVgg16(vgg16Weights, { pooling, sharedTensors: true });
  await installWeights(id);
  return getNetwork(id, { pooling });
}

function rgb(h: number, w: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([1, h, w, 3], 0, 255, "float32", seed) as tf.Tensor4D;
}

/** The tfjs path's targets of the default preset, with normalisation scales made up per layer. */
function tfjsTargets(net: GraphNetwork, h: number, w: number): Targets {
  const setup = lossSetup(net, stylizeOptionsSchema.parse({ network: net.id }));
  const content: Features = tf.tidy(() =>
    net.features(net.preprocess(rgb(h, w, 1)), Object.keys(setup.contentLayers))
  );
  const style = tf.tidy(() =>
    net.features(net.preprocess(rgb(w + 3, h - 2, 2)), Object.keys(setup.styleLayers))
  );
  const grams: Grams = blendGrams([style], [1]);
  tf.dispose(Object.values(style));
  const scales = (layers: object) =>
    Object.fromEntries(Object.keys(layers).map((l, i) => [l, 0.5 + i / 3]));
  return { content, grams, contentScales: scales(content), styleScales: scales(grams) };
}

/** Relative difference of two tensors: max |a - b| / max |a|. */
function relative(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() =>
    tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / tf.max(tf.abs(a)).dataSync()[0]
  );
}

function checkObjective(net: GraphNetwork, [h, w]: [number, number], x: tf.Tensor4D) {
  const setup = lossSetup(net, stylizeOptionsSchema.parse({ network: net.id, tvWeight: 0.01 }));
  const targets = tfjsTargets(net, h, w);
  try {
    const expected = styleObjective(net, targets, setup)(x);
    const actual = onnxObjective(layersOf(net)!, targets, setup, [h, w])(x);
    const [e, a] = [expected.values.arraySync(), actual.values.arraySync()];
    e.forEach((value, i) =>
      assert.ok(
        Math.abs(a[i] - value) <= 1e-4 * Math.abs(value),
        `${net.id} ${net.pooling} ${h}x${w}: term ${i} is ${a[i]}, tfjs ${value}`,
      )
    );
    assert.ok(e.slice(0, 3).every((v) => v > 0), `the total, content and style terms are on: ${e}`);
    const gradError = relative(expected.grad, actual.grad);
    assert.ok(
      gradError <= 1e-4,
      `${net.id} ${net.pooling} ${h}x${w}: gradient off by ${gradError}`,
    );
    tf.dispose([expected.values, expected.grad, actual.values, actual.grad]);
  } finally {
    tf.dispose([...Object.values(targets.content), ...Object.values(targets.grams)]);
  }
}

for (const id of ["squeezenet", "googlenet", "vgg16"] as const) {
  Deno.test(`${id}: ONNX Runtime's loss and image-gradient equal tfjs's at two sizes, both poolings`, async () => {
    for (const pooling of ["max", "avg"] as const) {
      const net = await network(id, pooling);
      for (const [h, w] of [[37, 50], [64, 45]] as [number, number][]) {
        const x = tf.tidy(() => net.preprocess(rgb(h, w, 5)));
        checkObjective(net, [h, w], x);
        x.dispose();
      }
    }
  });
}

Deno.test("max-pool gradients go to the first maximum, as tfjs's, on a flat image full of ties", async () => {
  for (const id of ["squeezenet", "googlenet"] as const) {
    const net = await network(id, "max");
    const x = tf.tidy(() => net.preprocess(tf.fill([1, 41, 43, 3], 200) as tf.Tensor4D));
    checkObjective(net, [41, 43], x);
    x.dispose();
  }
});

Deno.test("ONNX Runtime's targets (content activations, blended Grams) equal tfjs's", async () => {
  const net = await network("googlenet", "max");
  const setup = lossSetup(net, stylizeOptionsSchema.parse({ network: "googlenet" }));
  const content = rgb(45, 38, 1);
  const styles = [rgb(40, 52, 2), rgb(33, 33, 3)];
  const stage = onnxStage(net)!;
  assert.ok(stage, "onnxStage answers while the onnx backend is active");
  const got = stage.targets(content, styles, [1, 3], setup);
  const want = tf.tidy(() => ({
    content: net.features(net.preprocess(content), Object.keys(setup.contentLayers)),
    perStyle: styles.map((s) => net.features(net.preprocess(s), Object.keys(setup.styleLayers))),
  }));
  const grams = blendGrams(want.perStyle, [1, 3]);
  for (const layer of Object.keys(setup.contentLayers)) {
    assert.ok(relative(want.content[layer], got.content[layer]) < 1e-5, layer);
  }
  for (const layer of Object.keys(setup.styleLayers)) {
    assert.ok(relative(grams[layer], got.grams[layer]) < 1e-5, layer);
  }
  tf.dispose([
    content,
    ...styles,
    ...Object.values(got.content),
    ...Object.values(got.grams),
    ...Object.values(want.content),
    ...want.perStyle.flatMap((f) => Object.values(f)),
    ...Object.values(grams),
  ]);
});

/** The losses of a tiny stylize() run with `optimizer`. */
async function run(optimizer: "lbfgs" | "adam"): Promise<number[][]> {
  const losses: number[][] = [];
  let image;
  for await (
    const step of stylize({
      content: rampImage(40, 30, (x) => 100 + x),
      styles: [rampImage(32, 32)],
      options: {
        network: "squeezenet",
        iterations: 4,
        maxSize: 40,
        seed: 3,
        optimizer,
        previewEvery: 4,
      },
    })
  ) {
    losses.push([step.losses.total, step.losses.content, step.losses.style, step.losses.tv]);
    image = step.image;
  }
  assert.deepEqual([image?.width, image?.height], [40, 30]);
  return losses;
}

Deno.test("stylize() on the onnx backend follows the tfjs run's losses, with L-BFGS and Adam", async () => {
  await installWeights("squeezenet");
  for (const optimizer of ["lbfgs", "adam"] as const) {
    const before = tf.memory().numTensors;
    const native = await run(optimizer);
    assert.equal(tf.memory().numTensors, before, "every tensor freed");
    await initBackend("wasm");
    assert.ok(!onnxActive());
    const tfjs = await run(optimizer);
    await initBackend("onnx");
    assert.ok(native.at(-1)![0] < native[0][0], `${optimizer} lowers the loss: ${native}`);
    // The first step's losses agree closely; later ones drift apart only by rounding.
    native[0].forEach((v, i) => assert.ok(Math.abs(v - tfjs[0][i]) <= 1e-3 * Math.abs(tfjs[0][i])));
    native.forEach((step, k) =>
      assert.ok(Math.abs(step[0] - tfjs[k][0]) <= 1e-2 * tfjs[k][0], `${optimizer} step ${k + 1}`)
    );
  }
});

Deno.test("pickBackend probes onnx beside wasm and keeps the faster one", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const probed: string[] = [];
    const choice = await pickBackend({
      key: "onnx-test",
      candidates: ["onnx", "wasm"],
      cacheFile: `${dir}/choice.json`,
      probe: async () => {
        probed.push(onnxActive() ? "onnx" : "wasm");
        // The onnx candidate is made slower here: the choice must follow the timings.
        await new Promise((done) => setTimeout(done, onnxActive() ? 60 : 5));
      },
    });
    assert.deepEqual(probed, ["onnx", "onnx", "wasm", "wasm"]);
    assert.equal(choice.backend, "wasm");
    assert.ok(choice.probeMs.onnx! > choice.probeMs.wasm!);
  } finally {
    await initBackend("onnx");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a server job runs on the onnx backend unchanged", async () => {
  const server = await testServer();
  try {
    const png = await encodePng(rampImage(60, 40));
    const response = await fetch(`${server.url}/v1/jobs`, {
      method: "POST",
      body: jobForm(png, tiny()),
    });
    assert.equal(response.status, 202, await response.clone().text());
    const created = await response.json();
    const events = await readSse(await fetch(server.url + created.links.events));
    assert.equal(events.at(-1)?.event, "done", JSON.stringify(events.at(-1)));
    const health = await (await fetch(`${server.url}/v1/health`)).json();
    assert.equal(health.backend, "onnx");
  } finally {
    await server.close();
    await Deno.remove(server.dir, { recursive: true });
  }
});

Deno.test("the stylize CLI runs on the onnx backend with RESTYLE_BACKEND=onnx", async () => {
  const dir = await Deno.makeTempDir({ prefix: "restyle-onnx-cli-" });
  try {
    await Deno.writeFile(`${dir}/content.png`, await encodePng(rampImage(40, 30, (x) => 100 + x)));
    await Deno.writeFile(`${dir}/style.png`, await encodePng(rampImage(32, 32)));
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../src/cli/stylize.ts", import.meta.url).pathname,
        `${dir}/content.png`,
        ...["--style", `${dir}/style.png`, "--out", `${dir}/out.png`, "--iterations", "2"],
        ...["--size", "32", "--json"],
      ],
      env: { RESTYLE_BACKEND: "onnx" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(stderr);
    assert.equal(code, 0, text);
    assert.match(text, /backend onnx on /);
    assert.ok((await Deno.stat(`${dir}/out.png`)).size > 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
