/**
 * VGG16 without its real weights (they cannot be brought into this workplace):
 * the Keras h5 converter on small files written here in Keras's legacy layout,
 * and the network's shapes and gradients with random weights.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import h5wasm from "h5wasm";
import { createHash } from "node:crypto";
import { initBackend } from "../src/backend.ts";
import { loadNetwork } from "../src/net/load.ts";
import { createVgg16, randomVgg16Weights, VGG16_BLOCKS } from "../src/net/vgg16.ts";
import { convertKerasH5Bytes } from "../src/weights/convert_keras_h5.ts";
import { installWeights } from "../src/weights/install.ts";
import type { WeightsManifest } from "../src/weights/manifest.ts";

await initBackend();

type NameStyle = "old" | "new";

/** A conv layer as the test writes it. */
interface Layer {
  name: string;
  kernel: Float32Array;
  kernelShape: number[];
  bias: Float32Array;
}

/** VGG16's conv layers with `1/shrink` of the filters and distinct random values. */
function smallVggLayers(shrink: number): Layer[] {
  const layers: Layer[] = [];
  let channels = 3;
  let seed = 1;
  const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
  VGG16_BLOCKS.forEach((filters, b) => {
    filters.forEach((full, c) => {
      const out = full / shrink;
      const kernelShape = [3, 3, channels, out];
      const kernel = Float32Array.from({ length: 9 * channels * out }, () => random() * 0.2);
      const bias = Float32Array.from({ length: out }, () => random());
      layers.push({ name: `block${b + 1}_conv${c + 1}`, kernel, kernelShape, bias });
      channels = out;
    });
  });
  return layers;
}

/**
 * Writes `layers` as Keras's legacy `save_weights` h5: root `layer_names`
 * (with the weightless input and pool layers), per layer `weight_names`.
 * Datasets are created bias first, so a reader that assumed an order fails.
 */
async function writeKerasH5(layers: Layer[], style: NameStyle): Promise<Uint8Array> {
  const { FS } = await h5wasm.ready;
  const path = `/test-${style}-${crypto.randomUUID()}.h5`;
  const file = new h5wasm.File(path, "w");
  const names = ["input_1"];
  for (const layer of layers) {
    names.push(layer.name);
    if (layer.name.endsWith("_conv2") && /block[12]/.test(layer.name)) {
      names.push(layer.name.replace(/_conv2$/, "_pool"));
    } else if (layer.name.endsWith("_conv3")) names.push(layer.name.replace(/_conv3$/, "_pool"));
  }
  file.create_attribute("layer_names", names);
  file.create_attribute("backend", "tensorflow");
  for (const name of names) {
    const group = file.create_group(name);
    const layer = layers.find((l) => l.name === name);
    if (!layer) {
      group.create_attribute("weight_names", [] as string[]);
      continue;
    }
    const [kernelName, biasName] = style === "old"
      ? [`${name}_W_1:0`, `${name}_b_1:0`]
      : [`${name}/kernel:0`, `${name}/bias:0`];
    group.create_attribute("weight_names", [kernelName, biasName]);
    const holder = style === "old" ? group : group.create_group(name);
    const leaf = (n: string) => n.split("/").pop()!;
    holder.create_dataset({
      name: leaf(biasName),
      data: layer.bias,
      shape: [layer.bias.length],
      dtype: "<f",
    });
    holder.create_dataset({
      name: leaf(kernelName),
      data: layer.kernel,
      shape: layer.kernelShape,
      dtype: "<f",
    });
  }
  file.close();
  const bytes = FS.readFile(path) as Uint8Array;
  FS.unlink(path);
  return bytes;
}

for (const style of ["old", "new"] as const) {
  Deno.test(`the Keras h5 converter reads ${style}-style weight names bit for bit`, async () => {
    const layers = smallVggLayers(16);
    const tensors = await convertKerasH5Bytes(await writeKerasH5(layers, style));
    assert.equal(tensors.length, 2 * layers.length);
    for (const layer of layers) {
      const kernel = tensors.find((t) => t.name === `${layer.name}/kernel`)!;
      const bias = tensors.find((t) => t.name === `${layer.name}/bias`)!;
      assert.deepEqual(kernel.shape, layer.kernelShape, layer.name);
      assert.deepEqual(kernel.data, layer.kernel, layer.name);
      assert.deepEqual(bias.data, layer.bias, layer.name);
    }
  });
}

Deno.test("the Keras h5 converter rejects a file without layer_names", async () => {
  const { FS } = await h5wasm.ready;
  const file = new h5wasm.File("/not-keras.h5", "w");
  file.create_dataset({ name: "x", data: new Float32Array(4), shape: [4], dtype: "<f" });
  file.close();
  const bytes = FS.readFile("/not-keras.h5") as Uint8Array;
  FS.unlink("/not-keras.h5");
  await assert.rejects(
    convertKerasH5Bytes(bytes, "x.h5"),
    /x\.h5: no root attribute "layer_names"/,
  );
});

Deno.test("deno task weights' vgg16 path: md5-verified h5 from a mirror loads as VGG16", async () => {
  const layers = smallVggLayers(16);
  const bytes = await writeKerasH5(layers, "old");
  const root = await Deno.makeTempDir();
  try {
    const file = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5";
    await Deno.mkdir(`${root}/mirror/weights/vgg16`, { recursive: true });
    await Deno.writeFile(`${root}/mirror/weights/vgg16/${file}`, bytes);
    const manifest = {
      version: 1,
      networks: {
        vgg16: {
          title: "test",
          license: "test",
          source: "test",
          format: "keras-h5",
          files: [{
            path: file,
            size: bytes.length,
            sha256: null,
            md5: createHash("md5").update(bytes).digest("hex"),
            urls: [],
          }],
        },
      },
    } as unknown as WeightsManifest;
    const options = { mirror: `${root}/mirror`, dir: `${root}/weights`, manifest };
    assert.equal(await installWeights("vgg16", options), "installed");
    assert.equal(await installWeights("vgg16", options), "up-to-date");
    const net = await loadNetwork("vgg16", { dir: `${root}/weights` });
    const stored = net.weights["block3_conv2/kernel"];
    assert.deepEqual(stored.dataSync(), layers.find((l) => l.name === "block3_conv2")!.kernel);
    const out = net.features(tf.zeros([1, 32, 32, 3]), ["block5_conv3"]);
    assert.deepEqual(out.block5_conv3.shape, [1, 2, 2, 32]);
    tf.dispose(out);
    net.dispose();

    await Deno.writeFile(`${root}/mirror/weights/vgg16/${file}`, bytes.subarray(1));
    await Deno.remove(`${root}/weights`, { recursive: true });
    await assert.rejects(
      installWeights("vgg16", options),
      (e: Error) => e.message.includes(file) && e.message.includes("deno task weights vgg16"),
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("vgg16 blobs have Keras's shapes (floor-mode 2x2 pools) at 50x37", () => {
  const net = createVgg16(randomVgg16Weights());
  const shapes = tf.tidy(() => {
    const x = net.preprocess(tf.randomUniform([1, 50, 37, 3], 0, 255, "float32", 5));
    const blobs = net.features(x, net.layers);
    return Object.fromEntries(Object.entries(blobs).map(([k, t]) => [k, t.shape.slice(1)]));
  });
  const sizes = [[50, 37], [25, 18], [12, 9], [6, 4], [3, 2], [1, 1]];
  const expected: Record<string, number[]> = {};
  VGG16_BLOCKS.forEach((filters, b) => {
    filters.forEach((c, i) => (expected[`block${b + 1}_conv${i + 1}`] = [...sizes[b], c]));
    expected[`block${b + 1}_pool`] = [...sizes[b + 1], filters[0]];
  });
  assert.deepEqual(shapes, expected);
  assert.deepEqual(net.layers.slice(0, 3), ["block1_conv1", "block1_conv2", "block1_pool"]);
  assert.ok("seed" in net.presets && "seed-deep" in net.presets);
  net.dispose();
});

Deno.test("vgg16 preprocessing subtracts the ImageNet means in BGR order", () => {
  const net = createVgg16(randomVgg16Weights(1, 1 / 64));
  const x = net.preprocess(tf.tensor4d([255, 128, 0], [1, 1, 1, 3]));
  const [b, g, r] = x.dataSync();
  assert.ok(Math.abs(b - (0 - 103.939)) < 1e-4 && Math.abs(g - (128 - 116.779)) < 1e-4);
  assert.ok(Math.abs(r - (255 - 123.68)) < 1e-4);
  tf.dispose(x);
  net.dispose();
});

Deno.test("vgg16's image gradient matches a finite difference, with max and avg pooling", () => {
  for (const pooling of ["max", "avg"] as const) {
    const net = createVgg16(randomVgg16Weights(11, 1 / 8), { pooling });
    const [analytic, numeric] = tf.tidy(() => {
      const x = tf.randomUniform([1, 32, 32, 3], -50, 50, "float32", 2) as tf.Tensor4D;
      const direction = tf.randomUniform([1, 32, 32, 3], -1, 1, "float32", 3);
      // Linear in the activations: the finite difference is then exact between ReLU
      // kinks; differencing activations before summing keeps float32 cancellation small.
      const probe = tf.randomUniform([1, 8, 8, 32], 0, 1, "float32", 4);
      const features = (image: tf.Tensor) =>
        net.features(image as tf.Tensor4D, ["block3_conv3"]).block3_conv3;
      const grad = tf.grad((image) => tf.sum(tf.mul(features(image), probe)))(x);
      assert.deepEqual(grad.shape, [1, 32, 32, 3]);
      const eps = 0.01;
      const plus = features(tf.add(x, tf.mul(direction, eps)));
      const minus = features(tf.sub(x, tf.mul(direction, eps)));
      return [
        tf.sum(tf.mul(grad, direction)).dataSync()[0],
        tf.sum(tf.mul(tf.sub(plus, minus), probe)).dataSync()[0] / (2 * eps),
      ];
    });
    assert.ok(Math.abs(analytic) > 0, `${pooling}: zero gradient`);
    const relative = Math.abs(analytic - numeric) / Math.abs(numeric);
    assert.ok(relative < 0.02, `${pooling}: grad·d ${analytic} vs finite difference ${numeric}`);
    net.dispose();
  }
});
