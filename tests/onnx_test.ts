/**
 * The native CPU path (`RESTYLE_BACKEND=onnx`): the ONNX Runtime executor must give
 * the tfjs executor's losses and image-gradient (to 1e-4 relative) on every network, at
 * odd sizes, with max, avg and blur pooling and reflect padding; its targets must
 * equal tfjs's; `stylize()`, the server and the CLI run on it unchanged. Tiled
 * evaluation on both executors: `executors_test.ts`.
 */
import assert from "node:assert/strict";
import { reflectBySlices } from "./_reflect.ts";
import * as tf from "@tensorflow/tfjs";
import { currentBackend, initBackend, pickBackend } from "../src/backend.ts";
import { type StylizeOptionsInput, stylizeOptionsSchema } from "../src/engine/options.ts";
import { resolveRun } from "../src/engine/run.ts";
import { stylize } from "../src/engine/stylize.ts";
import { disposeTargets, stageTargets } from "../src/engine/targets.ts";
import { onnxExecutor, tfjsExecutor } from "../src/executors/mod.ts";
import { type StageTargets, wholeImageTerms } from "../src/loss/terms.ts";
import { type GraphLayer, GraphNetwork, INPUT, layersOf } from "../src/net/graph.ts";
import type { ConvLayer } from "../src/ops/conv.ts";
import type { PoolSpec } from "../src/ops/layer_op.ts";
import type { PadMode, Pooling } from "../src/net/network.ts";
import { getNetwork } from "../src/net/load.ts";
import type { NetworkId } from "../src/net/network.ts";
import { createVgg16, randomVgg16Weights } from "../src/net/vgg16.ts";
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

/** The tfjs executor's targets for `loss`, with normalisation scales made up per layer. */
async function tfjsTargets(
  net: GraphNetwork,
  loss: ReturnType<typeof resolveRun>["loss"],
  h: number,
  w: number,
): Promise<StageTargets> {
  const [content, style] = [rgb(h, w, 1), rgb(w + 3, h - 2, 2)];
  const targets = await stageTargets(tfjsExecutor(net), net, content, [{
    images: [style],
    blend: [1],
  }], loss);
  tf.dispose([content, style]);
  const scales = (layers: object) =>
    Object.fromEntries(Object.keys(layers).map((l, i) => [l, 0.5 + i / 3]));
  const [style0] = targets.styles;
  return {
    ...targets,
    contentScales: scales(targets.content),
    styles: [{ ...style0, scales: scales(style0.grams) }],
  };
}

/** Relative difference of two tensors: max |a - b| / max |a|. */
function relative(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() =>
    tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] / tf.max(tf.abs(a)).dataSync()[0]
  );
}

async function checkObjective(
  net: GraphNetwork,
  [h, w]: [number, number],
  x: tf.Tensor4D,
  options: StylizeOptionsInput = {},
  reference: GraphNetwork = net,
) {
  const { loss } = resolveRun(
    stylizeOptionsSchema.parse({ network: net.id, tvWeight: 0.01, ...options }),
    net,
  );
  const targets = await tfjsTargets(net, loss, h, w);
  const onnx = onnxExecutor(layersOf(net)!);
  try {
    const terms = wholeImageTerms(loss, targets, [h, w]);
    const expected = tfjsExecutor(reference).evaluate(x, terms);
    const actual = onnx.evaluate(x, terms);
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
    onnx.release();
    disposeTargets(targets);
  }
}

for (const id of ["squeezenet", "googlenet", "vgg16"] as const) {
  Deno.test(`${id}: ONNX Runtime's loss and image-gradient equal tfjs's at two sizes, every pooling, reflect padding`, async () => {
    const variants = [["max", "zero"], ["avg", "zero"], ["blur", "reflect"]] as const;
    for (const [pooling, padding] of variants) {
      const net = await network(id, pooling, padding);
      for (const [h, w] of [[37, 50], [64, 45]] as [number, number][]) {
        const x = tf.tidy(() => net.preprocess(rgb(h, w, 5)));
        await checkObjective(net, [h, w], x);
        x.dispose();
      }
    }
  });
}

/** A layer as data, and the same computation written independently in plain tfjs ops. */
type Checked = GraphLayer & { reference: (xs: tf.Tensor4D[]) => tf.Tensor4D };

/** A convolution layer on `input`, reflect- or zero-padded (reference: padding by slices). */
function convLayer(
  name: string,
  input: string,
  layer: ConvLayer,
): Checked {
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
  return { name, inputs: [input], reference: run, op: { type: "conv", layer } };
}

/** Caffe's ceil-mode 3x3 stride-2 pool weighted [1,2,1]⊗[1,2,1]/16, overhanging windows divided by their weight inside. */
function blurLayer(name: string, input: string): Checked {
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
  return { name, inputs: [input], reference: run, op: { type: "pool", spec } };
}

Deno.test("reflect-padded convolutions (strided too) and blur pools: ONNX Runtime's gradient equals tfjs's and a plain-ops reference's", async () => {
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
      l.op.type === "conv"
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
  // The same graph run by the layers' plain-ops references instead of `src/ops/`.
  const reference = Object.assign(Object.create(net), {
    features: (x: tf.Tensor4D, wanted: readonly string[]) =>
      tf.tidy(() => {
        const blobs = new Map([[INPUT, x]]);
        for (const l of graph) blobs.set(l.name, l.reference(l.inputs.map((i) => blobs.get(i)!)));
        return Object.fromEntries(wanted.map((name) => [name, blobs.get(name)!]));
      }),
  }) as GraphNetwork;
  const options = { contentLayers: { c3: 1 }, styleLayers: { c1: 0.5, c2: 1, c3: 2 } };
  for (const [h, w] of [[37, 41], [24, 30]] as [number, number][]) {
    const x = tf.tidy(() => net.preprocess(rgb(h, w, 9)));
    await checkObjective(net, [h, w], x, options);
    await checkObjective(net, [h, w], x, options, reference);
    x.dispose();
  }
  net.dispose();
});

Deno.test("max-pool gradients go to the first maximum, as tfjs's, on a flat image full of ties", async () => {
  for (const id of ["squeezenet", "googlenet"] as const) {
    const net = await network(id, "max");
    const x = tf.tidy(() => net.preprocess(tf.fill([1, 41, 43, 3], 200) as tf.Tensor4D));
    await checkObjective(net, [41, 43], x);
    x.dispose();
  }
});

Deno.test("ONNX Runtime's targets (content activations, blended Grams) equal tfjs's", async () => {
  const net = await network("googlenet", "max");
  const { loss } = resolveRun(stylizeOptionsSchema.parse({ network: "googlenet" }), net);
  const content = rgb(45, 38, 1);
  const styles = [rgb(40, 52, 2), rgb(33, 33, 3)];
  const onnx = onnxExecutor(layersOf(net)!);
  const got = await stageTargets(onnx, net, content, [{ images: styles, blend: [1, 3] }], loss);
  const want = await stageTargets(tfjsExecutor(net), net, content, [{
    images: styles,
    blend: [1, 3],
  }], loss);
  for (const layer of Object.keys(loss.contentLayers)) {
    assert.ok(relative(want.content[layer], got.content[layer]) < 1e-5, layer);
  }
  for (const layer of Object.keys(loss.styleLayers)) {
    assert.ok(relative(want.styles[0].grams[layer], got.styles[0].grams[layer]) < 1e-5, layer);
  }
  // The blend is by weights normalised to one: 1:3 is not either style's Gram alone.
  const alone = await stageTargets(onnx, net, content, [{ images: [styles[1]], blend: [1] }], loss);
  const layer = Object.keys(loss.styleLayers)[0];
  assert.ok(relative(alone.styles[0].grams[layer], got.styles[0].grams[layer]) > 1e-3);
  onnx.release();
  tf.dispose([content, ...styles]);
  [got, want, alone].forEach(disposeTargets);
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
    assert.equal(currentBackend(), "wasm");
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
        probed.push(currentBackend());
        // The onnx candidate is made slower here: the choice must follow the timings.
        await new Promise((done) => setTimeout(done, currentBackend() === "onnx" ? 60 : 5));
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
