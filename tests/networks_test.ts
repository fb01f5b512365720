/**
 * The Caffe networks with their real weights: they must classify real photos as
 * the weights' provenance check recorded, give Caffe's blob shapes at any
 * input size, and stop at the deepest layer asked for.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { decode, type Image } from "imagescript";
import { initBackend } from "../src/backend.ts";
import { mirrorDir } from "../src/config.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { classify } from "../src/net/classify.ts";
import type { GraphNetwork } from "../src/net/graph.ts";
import { getNetwork, loadNetwork, networkReady } from "../src/net/load.ts";
import type { NetworkId } from "../src/net/network.ts";
import { PRESETS } from "../src/net/presets.ts";
import { caffePool } from "../src/ops/pool.ts";
import { installWeights } from "../src/weights/install.ts";

await initBackend();

/** Installs `id`'s weights (from RESTYLE_MIRROR) when missing, then shares one copy. */
async function network(id: NetworkId, pooling: "max" | "avg" = "max"): Promise<GraphNetwork> {
  await installWeights(id);
  return getNetwork(id, { pooling });
}

async function fixture(name: string): Promise<RgbaImage> {
  const mirror = mirrorDir();
  assert.ok(mirror, "set RESTYLE_MIRROR to the directory holding images/ and weights/");
  const image = await decode(await Deno.readFile(`${mirror}/images/${name}`)) as Image;
  return { width: image.width, height: image.height, data: new Uint8Array(image.bitmap) };
}

/** Top-5 class indices recorded in weights/PROVENANCE.md. */
const RECORDED_TOP5: Record<"squeezenet" | "googlenet", Record<string, number[]>> = {
  squeezenet: {
    "cat.png": [285, 282, 281, 287, 283],
    "coffee.png": [967, 968, 960, 925, 504],
    "golden-gate.jpg": [839, 724, 780, 718, 913],
  },
  googlenet: {
    "cat.png": [282, 285, 281, 287, 904],
    "coffee.png": [967, 968, 504, 925, 809],
    "golden-gate.jpg": [839, 976, 718, 517, 913],
  },
};

for (const id of ["squeezenet", "googlenet"] as const) {
  Deno.test(`${id} classifies the fixture photos as its provenance check recorded`, async () => {
    const net = await network(id);
    for (const [file, recorded] of Object.entries(RECORDED_TOP5[id])) {
      const top5 = await classify(net, await fixture(file), 5);
      assert.equal(top5[0].index, recorded[0], `${file}: top-1 ${JSON.stringify(top5[0])}`);
      const shared = top5.filter((p) => recorded.includes(p.index)).length;
      assert.ok(shared >= 4, `${file}: top-5 ${top5.map((p) => p.index)} vs ${recorded}`);
    }
    assert.equal((await classify(net, await fixture("cat.png"), 1))[0].label, RECORDED_LABELS[id]);
  });
}

const RECORDED_LABELS = { squeezenet: "Egyptian cat", googlenet: "tiger cat" };

/** Runs `net` on a random image of `h` x `w` and returns every blob's `[h, w, c]`. */
function allShapes(net: GraphNetwork, h: number, w: number): Record<string, number[]> {
  return tf.tidy(() => {
    const x = tf.randomUniform([1, h, w, 3], -100, 100, "float32", 7) as tf.Tensor4D;
    const blobs = net.features(x, net.layers);
    return Object.fromEntries(Object.entries(blobs).map(([k, t]) => [k, t.shape.slice(1)]));
  });
}

Deno.test("squeezenet blobs have Caffe's ceil-mode shapes at an odd 100x77 input", async () => {
  const net = await network("squeezenet");
  const shapes = allShapes(net, 100, 77);
  // conv1 3x3/2: 49x38; ceil-mode 3x3/2 pools: 24x19, 12x9, 6x4.
  const fires: Record<string, [number, number, [number, number]]> = {
    fire2: [16, 64, [24, 19]],
    fire3: [16, 64, [24, 19]],
    fire4: [32, 128, [12, 9]],
    fire5: [32, 128, [12, 9]],
    fire6: [48, 192, [6, 4]],
    fire7: [48, 192, [6, 4]],
    fire8: [64, 256, [6, 4]],
    fire9: [64, 256, [6, 4]],
  };
  const expected: Record<string, number[]> = {
    conv1: [49, 38, 64],
    pool1: [24, 19, 64],
    pool3: [12, 9, 128],
    pool5: [6, 4, 256],
    conv10: [6, 4, 1000],
  };
  for (const [fire, [squeeze, expand, [h, w]]] of Object.entries(fires)) {
    expected[`${fire}/squeeze1x1`] = [h, w, squeeze];
    expected[`${fire}/expand1x1`] = [h, w, expand];
    expected[`${fire}/expand3x3`] = [h, w, expand];
    expected[`${fire}/concat`] = [h, w, 2 * expand];
  }
  assert.deepEqual(shapes, expected);
});

Deno.test("googlenet blobs have Caffe's shapes at an odd 100x77 input", async () => {
  const net = await network("googlenet");
  const shapes = allShapes(net, 100, 77);
  // conv1 7x7/2 pad 3: 50x39; ceil-mode 3x3/2 pools: 25x19, 12x9, 6x4, 3x2.
  assert.deepEqual(shapes["conv1/7x7_s2"], [50, 39, 64]);
  assert.deepEqual(shapes["pool1/norm1"], [25, 19, 64]);
  assert.deepEqual(shapes["conv2/3x3"], [25, 19, 192]);
  assert.deepEqual(shapes["pool2/3x3_s2"], [12, 9, 192]);
  const outputs: Record<string, [number, number, number]> = {
    inception_3a: [12, 9, 256],
    inception_3b: [12, 9, 480],
    inception_4a: [6, 4, 512],
    inception_4b: [6, 4, 512],
    inception_4c: [6, 4, 512],
    inception_4d: [6, 4, 528],
    inception_4e: [6, 4, 832],
    inception_5a: [3, 2, 832],
    inception_5b: [3, 2, 1024],
  };
  for (const [module, shape] of Object.entries(outputs)) {
    assert.deepEqual(shapes[`${module}/output`], shape, module);
  }
  assert.deepEqual(shapes["inception_3a/5x5"], [12, 9, 32]);
  assert.deepEqual(shapes["inception_4e/pool"], [6, 4, 528]);
  assert.equal(Object.keys(shapes).length, net.layers.length);
});

Deno.test("features() runs only as far as the deepest layer asked for", async () => {
  const net = await network("squeezenet");
  const x = tf.zeros([1, 64, 64, 3]) as tf.Tensor4D;
  const kernelsFor = async (layers: string[]) => {
    const profile = await tf.profile(() => tf.dispose(net.features(x, layers)));
    return profile.kernels.length;
  };
  const shallow = await kernelsFor(["conv1"]);
  const pool1 = await kernelsFor(["pool1", "conv1"]);
  const deep = await kernelsFor(["fire9/concat"]);
  assert.ok(shallow < pool1 && pool1 < deep / 10, `kernels ${shallow}, ${pool1}, ${deep}`);
  const before = tf.memory().numTensors;
  const out = net.features(x, ["fire3/concat", "conv1"]);
  assert.deepEqual(Object.keys(out).sort(), ["conv1", "fire3/concat"]);
  assert.equal(tf.memory().numTensors, before + 2, "only the requested blobs survive");
  tf.dispose(out);
  x.dispose();
});

Deno.test("features() of an unknown layer names it and lists the real ones", async () => {
  const net = await network("squeezenet");
  const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
  assert.throws(() => net.features(x, ["fire2/concat", "conv9"]), /unknown layer "conv9".*conv1/);
  x.dispose();
});

Deno.test("networks work at the smallest sizes style transfer uses (32x32)", async () => {
  for (const id of ["squeezenet", "googlenet"] as const) {
    const net = await network(id);
    const last = net.layers[net.layers.length - 1];
    const x = tf.zeros([1, 32, 32, 3]) as tf.Tensor4D;
    const out = net.features(x, [last]);
    assert.equal(out[last].shape[1], 1, `${id} ${last}`);
    tf.dispose([x, out[last]]);
  }
});

Deno.test("preprocess gives BGR minus the Caffe means and deprocess inverts it, clipped", async () => {
  const net = await network("squeezenet");
  assert.deepEqual(net.mean, [104, 117, 123]);
  const rgb = tf.tensor4d([255, 10, 0], [1, 1, 1, 3]);
  const x = net.preprocess(rgb);
  assert.deepEqual(Array.from(x.dataSync()), [0 - 104, 10 - 117, 255 - 123]);
  assert.deepEqual(Array.from(net.deprocess(x).dataSync()), [255, 10, 0]);
  const out = net.deprocess(tf.tensor4d([200, -200, 0], [1, 1, 1, 3]));
  assert.deepEqual(Array.from(out.dataSync()), [123, 0, 255]);
  tf.dispose([rgb, x, out]);
});

Deno.test("average pooling shares the weights and changes only the pooled values", async () => {
  const max = await network("squeezenet", "max");
  const avg = await network("squeezenet", "avg");
  assert.equal(avg.pooling, "avg");
  assert.equal(avg.weights, max.weights);
  assert.deepEqual(avg.presets, PRESETS.squeezenet);
  const diff = tf.tidy(() => {
    const x = tf.randomUniform([1, 48, 48, 3], -100, 100, "float32", 3) as tf.Tensor4D;
    const a = avg.features(x, ["pool1", "conv1"]);
    const m = max.features(x, ["pool1", "conv1"]);
    assert.deepEqual(a.pool1.shape, m.pool1.shape);
    return [
      tf.max(tf.abs(tf.sub(a.conv1, m.conv1))).dataSync()[0],
      tf.max(tf.sub(a.pool1, m.pool1)).dataSync()[0], // avg <= max everywhere
      tf.min(tf.sub(m.pool1, a.pool1)).dataSync()[0],
    ];
  });
  assert.equal(diff[0], 0);
  assert.ok(diff[1] <= 1e-4 && diff[2] >= -1e-4, `avg exceeds max: ${diff}`);
});

Deno.test("loadNetwork names the missing or damaged file and the command that fixes it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await assert.rejects(
      loadNetwork("squeezenet", { dir }),
      (e: Error) =>
        e.message.includes(`${dir}/squeezenet/weights.json`) &&
        e.message.includes("deno task weights squeezenet"),
    );
    assert.equal(await networkReady("squeezenet", dir), false);
    await installWeights("squeezenet", { dir });
    assert.equal(await networkReady("squeezenet", dir), true);
    const bin = `${dir}/squeezenet/weights.bin`;
    await Deno.truncate(bin, 1000);
    assert.equal(await networkReady("squeezenet", dir), false);
    await assert.rejects(
      loadNetwork("squeezenet", { dir }),
      (e: Error) => e.message.includes(bin) && e.message.includes("deno task weights squeezenet"),
    );
    assert.equal(await installWeights("squeezenet", { dir }), "installed", "repairs the store");
    const net = await loadNetwork("squeezenet", { dir });
    assert.equal(net.layers[0], "conv1");
    net.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("average pooling divides a ceil-mode window that overhangs by the part inside, as Caffe", () => {
  const x = tf.tensor4d([...Array(20).keys()].map((i) => i + 1), [1, 4, 5, 1]);
  const pooled = caffePool(x, { kernel: 3, stride: 2, pad: 0, kind: "avg" });
  // Windows: rows 0-2 / 2-3 (clipped), columns 0-2 / 2-4.
  assert.deepEqual(Array.from(pooled.dataSync()), [7, 9, 14.5, 16.5]);
  tf.dispose([x, pooled]);
});
