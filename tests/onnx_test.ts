/**
 * The native CPU path (`RESTYLE_BACKEND=onnx`): the whole objective as one ONNX
 * Runtime graph must give the tfjs path's losses and image-gradient (to 1e-4
 * relative) on every network, at odd sizes, with max, avg and blur pooling and reflect padding; its targets
 * must equal tfjs's; `stylize()`, the server and the CLI run on it unchanged.
 */
import assert from "node:assert/strict";
import { reflectBySlices } from "./_reflect.ts";
import * as tf from "@tensorflow/tfjs";
import { initBackend, onnxActive, pickBackend } from "../src/backend.ts";
import { type StylizeOptionsInput, stylizeOptionsSchema } from "../src/engine/options.ts";
import {
  blendGrams,
  contentLoss,
  type Features,
  type Grams,
  styleLoss,
  tvLoss,
} from "../src/engine/losses.ts";
import {
  type LossSetup,
  lossSetup,
  styleObjective,
  stylize,
  type Targets,
} from "../src/engine/stylize.ts";
import { type GraphLayer, GraphNetwork, INPUT, layersOf } from "../src/net/graph.ts";
import type { ConvLayer } from "../src/ops/conv.ts";
import type { PoolSpec } from "../src/ops/pool.ts";
import type { PadMode, Pooling } from "../src/net/network.ts";
import { getNetwork } from "../src/net/load.ts";
import type { NetworkId } from "../src/net/network.ts";
import { createVgg16, randomVgg16Weights } from "../src/net/vgg16.ts";
import { onnxObjective, onnxStage } from "../src/onnx/mod.ts";
import { installWeights } from "../src/weights/install.ts";
import { encodePng, jobForm, readSse, testServer, tiny } from "./_server.ts";
import { rampImage } from "./_tiny_net.ts";

await initBackend("onnx");

const vgg16Weights = randomVgg16Weights(3, 0.25);

async function network(
  id: NetworkId,
  pooling: Pooling,
  padding: PadMode = "zero",
): Promise<GraphNetwork> {
  if (id === "vgg16") return createVgg16(vgg16Weights, { pooling, padding, sharedTensors: true });
  await installWeights(id);
  return getNetwork(id, { pooling, padding });
}

function rgb(h: number, w: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([1, h, w, 3], 0, 255, "float32", seed) as tf.Tensor4D;
}

/** The tfjs path's targets for `setup`, with normalisation scales made up per layer. */
function tfjsTargets(net: GraphNetwork, setup: LossSetup, h: number, w: number): Targets {
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

function checkObjective(
  net: GraphNetwork,
  [h, w]: [number, number],
  x: tf.Tensor4D,
  options: StylizeOptionsInput = {},
) {
  const setup = lossSetup(
    net,
    stylizeOptionsSchema.parse({ network: net.id, tvWeight: 0.01, ...options }),
  );
  const targets = tfjsTargets(net, setup, h, w);
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
  Deno.test(`${id}: ONNX Runtime's loss and image-gradient equal tfjs's at two sizes, every pooling, reflect padding`, async () => {
    const variants = [["max", "zero"], ["avg", "zero"], ["blur", "reflect"]] as const;
    for (const [pooling, padding] of variants) {
      const net = await network(id, pooling, padding);
      for (const [h, w] of [[37, 50], [64, 45]] as [number, number][]) {
        const x = tf.tidy(() => net.preprocess(rgb(h, w, 5)));
        checkObjective(net, [h, w], x);
        x.dispose();
      }
    }
  });
}

/** A convolution layer on `input`, reflect- or zero-padded, described for ONNX and run by tfjs. */
function convLayer(
  name: string,
  input: string,
  layer: ConvLayer,
): GraphLayer {
  const run = ([x]: tf.Tensor4D[]) =>
    tf.tidy(() => {
      const padded = layer.padMode === "reflect" ? reflectBySlices(x, layer.pad) : x;
      const pad = layer.padMode === "reflect" ? 0 : layer.pad;
      const y = tf.conv2d(padded, layer.filter, layer.stride, [[0, 0], [pad, pad], [pad, pad], [
        0,
        0,
      ]]);
      return tf.relu(tf.add(y, layer.bias)) as tf.Tensor4D;
    });
  return { name, inputs: [input], run, op: { type: "conv", layer } };
}

/** Caffe's ceil-mode 3x3 stride-2 pool weighted [1,2,1]⊗[1,2,1]/16, overhanging windows divided by their weight inside. */
function blurLayer(name: string, input: string): GraphLayer {
  const run = ([x]: tf.Tensor4D[]) =>
    tf.tidy(() => {
      const [, h, w] = x.shape;
      const out = (n: number) => Math.ceil((n - 3) / 2) + 1;
      const [eh, ew] = [(out(h) - 1) * 2 + 3 - h, (out(w) - 1) * 2 + 3 - w];
      const pad = (t: tf.Tensor4D) => tf.pad(t, [[0, 0], [0, eh], [0, ew], [0, 0]]);
      // A 2x2 box at stride 1, then at stride 2: the binomial window.
      const pool = (t: tf.Tensor4D) => tf.avgPool(tf.avgPool(pad(t), 2, 1, "valid"), 2, 2, "valid");
      return tf.div(pool(x), pool(tf.ones([1, h, w, 1]))) as tf.Tensor4D;
    });
  const spec: PoolSpec = { kernel: 3, stride: 2, pad: 0, kind: "blur" };
  return { name, inputs: [input], run, op: { type: "pool", spec } };
}

Deno.test("reflect-padded convolutions (strided too) and blur pools: ONNX Runtime's gradient equals tfjs's", () => {
  const filter = (kh: number, cin: number, cout: number, seed: number) =>
    tf.randomNormal(
      [kh, kh, cin, cout],
      0,
      Math.sqrt(2 / (kh * kh * cin)),
      "float32",
      seed,
    ) as tf.Tensor4D;
  const bias = (c: number) => tf.fill([c], 0.1) as tf.Tensor1D;
  const graph = [
    convLayer("c1", INPUT, {
      filter: filter(3, 3, 6, 1),
      bias: bias(6),
      stride: 1,
      pad: 1,
      padMode: "reflect",
    }),
    convLayer("c2", "c1", {
      filter: filter(3, 6, 8, 2),
      bias: bias(8),
      stride: 2,
      pad: 1,
      padMode: "reflect",
    }),
    blurLayer("p1", "c2"),
    convLayer("c3", "p1", { filter: filter(3, 8, 8, 3), bias: bias(8), stride: 1, pad: 1 }),
  ];
  const tensors = Object.fromEntries(
    graph.flatMap((l) =>
      l.op?.type === "conv"
        ? [[`${l.name}/kernel`, l.op.layer.filter], [`${l.name}/bias`, l.op.layer.bias]]
        : []
    ),
  );
  const net = new GraphNetwork({
    id: "vgg16",
    graph,
    meanBgr: [100, 110, 120],
    pooling: "avg",
    tensors,
  });
  const options = { contentLayers: { c3: 1 }, styleLayers: { c1: 0.5, c2: 1, c3: 2 } };
  for (const [h, w] of [[37, 41], [24, 30]] as [number, number][]) {
    const x = tf.tidy(() => net.preprocess(rgb(h, w, 9)));
    checkObjective(net, [h, w], x, options);
    x.dispose();
  }
  net.dispose();
});

/** SWAG's smoothing as the tfjs path computes it: `n·softmax(F/τ)` over all activations or per position over channels. */
function softmaxFeatures(
  f: tf.Tensor4D,
  temperature: number,
  over: "all" | "channels",
): tf.Tensor4D {
  return tf.tidy(() => {
    const n = over === "all" ? f.size : f.shape[3];
    const flat = tf.reshape(tf.div(f, temperature), [-1, n]) as tf.Tensor2D;
    return tf.reshape(tf.mul(tf.softmax(flat), n), f.shape) as tf.Tensor4D;
  });
}

Deno.test("SWAG's softmax smoothing (all activations, per-position channels): targets, loss and gradient equal tfjs's", async () => {
  const net = await network("squeezenet", "max");
  const [h, w] = [37, 50];
  for (const over of ["all", "channels"] as const) {
    const setup = {
      ...lossSetup(net, stylizeOptionsSchema.parse({ network: "squeezenet", tvWeight: 0.01 })),
      softmax: { temperature: 2, over },
    } as LossSetup;
    const contentLayers = Object.keys(setup.contentLayers);
    const styleLayers = Object.keys(setup.styleLayers);
    const layers = [...new Set([...contentLayers, ...styleLayers])];
    const [contentRgb, styleRgb] = [rgb(h, w, 1), rgb(w, h, 2)];
    // τ per layer: the temperature times the RMS of the content image's activations there.
    const temperatures = tf.tidy(() => {
      const raw = net.features(net.preprocess(contentRgb), layers);
      return Object.fromEntries(
        layers.map((l) => [l, 2 * Math.sqrt(tf.mean(tf.square(raw[l])).dataSync()[0])]),
      );
    });
    const smooth = (features: Features) =>
      Object.fromEntries(
        Object.entries(features).map(([l, f]) => [l, softmaxFeatures(f, temperatures[l], over)]),
      );
    const content = tf.tidy(() => smooth(net.features(net.preprocess(contentRgb), contentLayers)));
    const styleFeatures = tf.tidy(() =>
      smooth(net.features(net.preprocess(styleRgb), styleLayers))
    );
    const grams = blendGrams([styleFeatures], [1]);
    const native = onnxStage(net)!.targets(contentRgb, [styleRgb], [1], setup, temperatures);
    for (const l of contentLayers) assert.ok(relative(content[l], native.content[l]) < 1e-4, l);
    for (const l of styleLayers) assert.ok(relative(grams[l], native.grams[l]) < 1e-4, l);

    const x = tf.tidy(() => net.preprocess(rgb(h, w, 5)));
    const expected = tf.valueAndGrad((image: tf.Tensor) => {
      const f = smooth(net.features(image as tf.Tensor4D, layers));
      return tf.addN([
        tf.mul(contentLoss(f, content, setup.contentLayers), setup.contentWeight),
        tf.mul(styleLoss(f, grams, setup.styleLayers), setup.styleWeight),
        tf.mul(tvLoss(image as tf.Tensor4D), setup.tvWeight),
      ]) as tf.Scalar;
    })(x);
    const targets = { content, grams, temperatures, contentScales: {}, styleScales: {} };
    const actual = onnxObjective(layersOf(net)!, targets, setup, [h, w])(x);
    const total = actual.values.arraySync()[0];
    const want = expected.value.dataSync()[0];
    assert.ok(Math.abs(total - want) <= 1e-4 * want, `${over}: loss ${total}, tfjs ${want}`);
    const gradError = relative(expected.grad, actual.grad);
    assert.ok(gradError <= 1e-4, `${over}: gradient off by ${gradError}`);
    assert.ok(tf.max(tf.abs(expected.grad)).dataSync()[0] > 0, "the gradient is not all zero");
    tf.dispose([
      contentRgb,
      styleRgb,
      x,
      expected.value,
      expected.grad,
      actual.values,
      actual.grad,
      ...Object.values(content),
      ...Object.values(styleFeatures),
      ...Object.values(grams),
      ...Object.values(native.content),
      ...Object.values(native.grams),
    ]);
  }
});

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
      content: rampImage(64, 48, (x) => 100 + x),
      styles: [rampImage(48, 48)],
      options: {
        network: "squeezenet",
        iterations: 4,
        maxSize: 64,
        seed: 3,
        optimizer,
        previewEvery: 4,
      },
    })
  ) {
    losses.push([step.losses.total, step.losses.content, step.losses.style, step.losses.tv]);
    image = step.image;
  }
  assert.deepEqual([image?.width, image?.height], [64, 48]);
  return losses;
}

Deno.test("stylize() on the onnx backend follows the tfjs run's losses, with L-BFGS and Adam", async () => {
  await installWeights("squeezenet");
  await run("adam"); // loads the preset's network variant, which stays cached
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
  // The engine runs in its own process: the backend is forced there.
  const server = await testServer({ engine: { env: { RESTYLE_BACKEND: "onnx" } } });
  try {
    const png = await encodePng(rampImage(60, 40));
    const response = await fetch(`${server.url}/v1/jobs`, {
      method: "POST",
      body: jobForm(png, tiny({ maxSize: 60 })),
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

Deno.test("the stylize CLI runs on the onnx backend with --backend onnx", async () => {
  const dir = await Deno.makeTempDir({ prefix: "restyle-onnx-cli-" });
  try {
    await Deno.writeFile(`${dir}/content.png`, await encodePng(rampImage(64, 48, (x) => 100 + x)));
    await Deno.writeFile(`${dir}/style.png`, await encodePng(rampImage(32, 32)));
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../src/cli/stylize.ts", import.meta.url).pathname,
        `${dir}/content.png`,
        ...["--style", `${dir}/style.png`, "--out", `${dir}/out.png`, "--iterations", "2"],
        ...["--size", "64", "--json", "--backend", "onnx"],
      ],
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
