/**
 * @module One loss + image-gradient evaluation, exactly as the engine computes it.
 *
 * The engine's objective: the loss terms of the network's default preset
 * (`resolveRun`, `wholeImageTerms`) evaluated by an executor (tfjs, or ONNX
 * Runtime with `native`), value and gradient with respect to the image. Targets
 * are made once by the engine's `stageTargets`, from fixed pseudo-random images,
 * so the bench and the tests time and compare the same computation.
 */
import * as tf from "@tensorflow/tfjs";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { resolveRun } from "../src/engine/run.ts";
import { disposeTargets, stageTargets } from "../src/engine/targets.ts";
import { type Evaluation, onnxExecutor, tfjsExecutor } from "../src/executors/mod.ts";
import { type LossDescription, wholeImageTerms } from "../src/loss/terms.ts";
import type { FeatureNetwork } from "../src/net/network.ts";
import { layersOf } from "../src/net/graph.ts";

/** A ready objective: `evaluate()` returns the loss and ∇ₓ loss; `dispose()` frees its targets. */
export interface Objective {
  /** The preprocessed image the loss is evaluated at, `[1, size, size, 3]`. */
  x: tf.Tensor4D;
  /** The preprocessed content and style images the targets come from. */
  content: tf.Tensor4D;
  style: tf.Tensor4D;
  /** The loss (layers, weights) of the network's default preset. */
  setup: LossDescription;
  evaluate(): { value: tf.Scalar; grad: tf.Tensor4D };
  /** `[total, content, style, tv]` and ∇ total at any image of `x`'s shape (the caller frees both). */
  at(image: tf.Tensor4D): Evaluation;
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
  const { loss: setup } = resolveRun(
    stylizeOptionsSchema.parse({ network: network.id }),
    network,
  );
  const contentImage = images?.content ?? tf.tidy(() => network.preprocess(randomRgb(size, 11)));
  const styleImage = images?.style ?? tf.tidy(() => network.preprocess(randomRgb(size, 12)));
  const graph = layersOf(network);
  if (native && !graph) throw new Error("the native objective needs a layer graph");
  const executor = native ? onnxExecutor(graph!) : tfjsExecutor(network);
  const [contentRgb, styleRgb] = [contentImage, styleImage].map((t) => network.deprocess(t));
  const targets = await stageTargets(executor, network, contentRgb, [{
    images: [styleRgb],
    blend: [1],
  }], setup);
  tf.dispose([contentRgb, styleRgb]);
  const x = images?.x ?? tf.tidy(() => network.preprocess(randomRgb(size, 13)));
  const terms = wholeImageTerms(setup, targets, [x.shape[1], x.shape[2]]);
  return {
    x,
    content: contentImage,
    style: styleImage,
    setup,
    at: (image) => executor.evaluate(image, terms),
    evaluate: () => {
      const { values, grad } = executor.evaluate(x, terms);
      const value = tf.tidy(() => tf.squeeze(tf.slice(values, [0], [1]))) as tf.Scalar;
      values.dispose();
      return { value, grad: grad as tf.Tensor4D };
    },
    dispose: () => {
      tf.dispose([x, contentImage, styleImage]);
      disposeTargets(targets);
      executor.release();
    },
  };
}
