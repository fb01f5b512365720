/**
 * @module One loss + image-gradient evaluation, exactly as the engine computes it.
 *
 * The engine's objective (`src/engine/stylize.ts`): features of the image at the
 * preset's content and style layers, content MSE, style MSE of Gram matrices,
 * TV, each weighted as the preset says, and the gradient of the total with
 * respect to the image. Targets are made once, from fixed pseudo-random images,
 * so the bench and the tests time and compare the same computation.
 */
import * as tf from "@tensorflow/tfjs";
import { contentLoss, type Features, type Grams, styleLoss, tvLoss } from "../src/engine/losses.ts";
import { gram } from "../src/ops/gram.ts";
import { lossSetup } from "../src/engine/stylize.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import type { FeatureNetwork } from "../src/net/network.ts";
import { layersOf } from "../src/net/graph.ts";
import { onnxObjective } from "../src/onnx/mod.ts";

/** A ready objective: `evaluate()` returns the loss and ∇ₓ loss; `dispose()` frees its targets. */
export interface Objective {
  /** The preprocessed image the loss is evaluated at, `[1, size, size, 3]`. */
  x: tf.Tensor4D;
  /** The preprocessed content and style images the targets come from. */
  content: tf.Tensor4D;
  style: tf.Tensor4D;
  /** The loss set-up (layers, weights) of the network's default preset. */
  setup: ReturnType<typeof lossSetup>;
  /** The loss at any image of `x`'s shape (not freed: call it inside `tf.tidy` or a gradient). */
  loss(image: tf.Tensor4D): tf.Scalar;
  evaluate(): { value: tf.Scalar; grad: tf.Tensor4D };
  dispose(): void;
}

/** Pseudo-random RGB 0..255 image, fixed by `seed`. */
function randomRgb(size: number, seed: number): tf.Tensor4D {
  return tf.randomUniform([1, size, size, 3], 0, 255, "float32", seed) as tf.Tensor4D;
}

/** Preprocessed images an objective is built from (taken over: `dispose()` frees them). */
export interface ObjectiveImages {
  content: tf.Tensor4D;
  style: tf.Tensor4D;
  x: tf.Tensor4D;
}

/**
 * The engine's objective for `network`'s default preset: at `size` px (square) on fixed
 * pseudo-random images, or on `images` when given; with `native`, evaluated by ONNX
 * Runtime (`src/onnx/`) from the same targets.
 */
export async function makeObjective(
  network: FeatureNetwork,
  size: number,
  images?: ObjectiveImages,
  { native = false } = {},
): Promise<Objective> {
  const setup = lossSetup(network, stylizeOptionsSchema.parse({ network: network.id }));
  const contentLayers = Object.keys(setup.contentLayers);
  const styleLayers = Object.keys(setup.styleLayers);
  const layers = [...new Set([...contentLayers, ...styleLayers])];
  const contentImage = images?.content ?? tf.tidy(() => network.preprocess(randomRgb(size, 11)));
  const styleImage = images?.style ?? tf.tidy(() => network.preprocess(randomRgb(size, 12)));
  const content: Features = tf.tidy(() => network.features(contentImage, contentLayers));
  const grams: Grams = tf.tidy(() => {
    const style = network.features(styleImage, styleLayers);
    return Object.fromEntries(styleLayers.map((l) => [l, gram(style[l])]));
  });
  // Asynchronous read-backs: WebGPU's synchronous one needs a canvas, which Deno lacks.
  const scales = async (ts: Record<string, tf.Tensor>) => {
    if (!setup.normalize) return {};
    const entries = await Promise.all(
      Object.entries(ts).map(async ([l, t]) => {
        const meanSquare = tf.tidy(() => tf.mean(tf.square(t)));
        const [value] = await meanSquare.data();
        meanSquare.dispose();
        return [l, 1 / Math.max(value, 1e-12)] as const;
      }),
    );
    return Object.fromEntries(entries);
  };
  const contentScales = await scales(content);
  const styleScales = await scales(grams);
  const x = images?.x ?? tf.tidy(() => network.preprocess(randomRgb(size, 13)));
  const loss = (image: tf.Tensor4D): tf.Scalar => {
    const features = network.features(image, layers);
    return tf.addN([
      tf.mul(
        contentLoss(features, content, setup.contentLayers, contentScales),
        setup.contentWeight,
      ),
      tf.mul(styleLoss(features, grams, setup.styleLayers, styleScales), setup.styleWeight),
      tf.mul(tvLoss(image), setup.tvWeight),
    ]) as tf.Scalar;
  };
  const valueAndGrad = tf.valueAndGrad((t: tf.Tensor) => loss(t as tf.Tensor4D));
  const graph = layersOf(network);
  if (native && !graph) throw new Error("the native objective needs a layer graph");
  const onnx = native
    ? onnxObjective(
      graph!,
      { content, grams, contentScales, styleScales },
      setup,
      [size, size],
    )
    : undefined;
  return {
    x,
    content: contentImage,
    style: styleImage,
    setup,
    loss,
    evaluate: () => {
      if (onnx) {
        const { values, grad } = onnx(x);
        const value = tf.tidy(() => tf.squeeze(tf.slice(values, [0], [1]))) as tf.Scalar;
        values.dispose();
        return { value, grad: grad as tf.Tensor4D };
      }
      const { value, grad } = valueAndGrad(x);
      return { value, grad: grad as tf.Tensor4D };
    },
    dispose: () =>
      tf.dispose([x, contentImage, styleImage, ...Object.values(content), ...Object.values(grams)]),
  };
}
