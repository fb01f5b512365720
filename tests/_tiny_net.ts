/**
 * A tiny random-weight network for engine tests: conv 3->4, max pool, conv 4->6.
 * Seeded, so every run (and every backend) sees the same weights.
 */
import * as tf from "@tensorflow/tfjs";
import { convRelu } from "../src/ops/conv.ts";
import { caffePool } from "../src/ops/pool.ts";
import type { FeatureNetwork, Preset } from "../src/net/network.ts";
import type { RgbaImage } from "../src/image/image.ts";

const MEAN: [number, number, number] = [104, 117, 123];

/**
 * Builds the network; `failOnCall` makes the n-th `features()` call throw (to test clean-up),
 * before any op (`failAt: "start"`, the default) or half-way, after the first convolution has
 * run and saved what its gradient needs (`failAt: "middle"`).
 */
export function tinyNetwork(
  options: { failOnCall?: number; failAt?: "start" | "middle"; preset?: Partial<Preset> } = {},
) {
  const layer = (inC: number, outC: number, seed: number) => ({
    filter: tf.randomNormal([3, 3, inC, outC], 0, 0.1, "float32", seed) as tf.Tensor4D,
    bias: tf.fill([outC], 0.1) as tf.Tensor1D,
    stride: 1,
    pad: 1,
  });
  const c1 = layer(3, 4, 1);
  const c2 = layer(4, 6, 2);
  let calls = 0;
  const network: FeatureNetwork & { calls(): number } = {
    id: "squeezenet",
    layers: ["c1", "p1", "c2"],
    mean: MEAN,
    presets: {
      default: {
        contentLayers: { c2: 1 },
        styleLayers: { c1: 0.5, c2: 0.5 },
        contentWeight: 1,
        styleWeight: 10,
        tvWeight: 1e-4,
        normalize: true,
        ...options.preset,
      },
    },
    preprocess: (rgb) => tf.tidy(() => tf.sub(tf.reverse(rgb, -1), tf.tensor1d(MEAN))),
    deprocess: (x) =>
      tf.tidy(() => tf.clipByValue(tf.reverse(tf.add(x, tf.tensor1d(MEAN)), -1), 0, 255)),
    features(x, layers) {
      calls += 1;
      const fail = calls === options.failOnCall;
      if (fail && options.failAt !== "middle") throw new Error("tiny network failed on purpose");
      return tf.tidy(() => {
        const out: Record<string, tf.Tensor4D> = {};
        const a = convRelu(x, c1);
        if (fail) throw new Error("tiny network failed on purpose, half-way");
        const p = caffePool(a, { kernel: 2, stride: 2, pad: 0, kind: "max" });
        const b = convRelu(p, c2);
        for (const name of layers) out[name] = { c1: a, p1: p, c2: b }[name as "c1"];
        return out;
      });
    },
    dispose: () => tf.dispose([c1.filter, c1.bias, c2.filter, c2.bias]),
    calls: () => calls,
  };
  return network;
}

/** A `width`x`height` RGBA test image: a smooth colour ramp, alpha from `alpha(x, y)`. */
export function rampImage(
  width: number,
  height: number,
  alpha: (x: number, y: number) => number = () => 255,
): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 4;
      data[p] = Math.round((255 * x) / Math.max(1, width - 1));
      data[p + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      data[p + 2] = (x * 37 + y * 91) % 256;
      data[p + 3] = alpha(x, y);
    }
  }
  return { width, height, data };
}
