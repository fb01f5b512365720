/**
 * @module Restyle's native CPU path: the whole objective (forward pass, losses,
 * image-gradient) as one ONNX Runtime graph per stage, built from the networks'
 * layer lists.
 *
 * `stylize()` asks {@linkcode onnxStage} for its targets and objective; it
 * answers only when the `onnx` backend is active (see `src/backend.ts`) and the
 * network is a layer graph, so everything else stays on tfjs.
 */
import * as tf from "@tensorflow/tfjs";
import { onnxActive } from "../backend.ts";
import type { Features, Grams, LayerScales } from "../engine/losses.ts";
import type { Objective } from "../engine/optimizer.ts";
import type { LossSetup } from "../engine/losses.ts";
import { layersOf } from "../net/graph.ts";
import type { FeatureNetwork } from "../net/network.ts";
import { lossSpec } from "./loss.ts";
import { onnxFeatures, onnxObjective, type OnnxTargets } from "./objective.ts";

export {
  featuresModel,
  objectiveModel,
  onnxFeatures,
  onnxObjective,
  releaseSessions,
} from "./objective.ts";
export type { OnnxTargets } from "./objective.ts";
export { loadOrt, ortLoaded } from "./runtime.ts";

/** One stage's targets and objective, computed by ONNX Runtime. */
export interface OnnxStage {
  /**
   * Content activations of `content` and the blended style Grams of `styles`
   * (RGB 0..255 `[1, h, w, 3]`), as tfjs tensors the caller owns; SWAG-smoothed
   * with `temperatures` (one per layer) when the set-up's softmax is on.
   */
  targets(
    content: tf.Tensor4D,
    styles: readonly tf.Tensor4D[],
    blend: readonly number[],
    setup: LossSetup,
    temperatures?: LayerScales,
  ): { content: Features; grams: Grams };
  /** The objective of a stage at `h`×`w` (see {@linkcode onnxObjective}). */
  objective(targets: OnnxTargets, setup: LossSetup, size: readonly [number, number]): Objective;
}

/** The ONNX Runtime stage of `network`, when the `onnx` backend is active and `network` is a layer graph. */
export function onnxStage(network: FeatureNetwork): OnnxStage | undefined {
  const graph = onnxActive() ? layersOf(network) : undefined;
  if (!graph) return undefined;
  return {
    targets(content, styles, blend, setup, temperatures = {}) {
      const spec = lossSpec(setup);
      const swag = spec.softmax ? { over: spec.softmax, temperatures } : undefined;
      // One graph serves content and style images alike (content activations and Grams
      // both): a style image of the content's size then needs no session of its own.
      const layers = (x: tf.Tensor4D) => {
        const input = network.preprocess(x);
        try {
          return onnxFeatures(graph, input, spec.content, spec.style, swag);
        } finally {
          input.dispose();
        }
      };
      const total = blend.reduce((a, b) => a + b, 0);
      if (!(total > 0)) throw new Error("style blend weights must not all be zero");
      const { features, grams: unused } = layers(content);
      tf.dispose(Object.values(unused));
      const grams: Grams = {};
      styles.forEach((style, i) => {
        const { features: unused, grams: own } = layers(style);
        tf.dispose(Object.values(unused));
        for (const [layer, g] of Object.entries(own)) {
          const weighted = tf.mul(g, blend[i] / total) as tf.Tensor2D;
          g.dispose();
          const sum = grams[layer];
          grams[layer] = sum ? tf.add(sum, weighted) : weighted;
          if (sum) tf.dispose([sum, weighted]);
        }
      });
      return { content: features, grams };
    },
    objective: (targets, setup, size) => onnxObjective(graph, targets, setup, size),
  };
}

/**
 * One evaluation of `network`'s objective for `setup` at `side`×`side` px on ONNX
 * Runtime, from pseudo-random images: what `pickBackend` times for the `onnx`
 * backend. Targets and the session are made on the first call.
 */
export function onnxProbe(network: FeatureNetwork, setup: LossSetup, side: number): () => void {
  const stage = onnxStage(network);
  if (!stage) {
    throw new Error("the onnx backend is not active, or the network is not a layer graph");
  }
  let objective: Objective | undefined;
  let x: tf.Tensor4D | undefined;
  return () => {
    if (!objective) {
      const rgb = (seed: number) =>
        tf.randomUniform([1, side, side, 3], 0, 255, "float32", seed) as tf.Tensor4D;
      const [content, style] = [rgb(1), rgb(2)];
      const targets = stage.targets(content, [style], [1], setup);
      tf.dispose([content, style]);
      objective = stage.objective({ ...targets, contentScales: {}, styleScales: {} }, setup, [
        side,
        side,
      ]);
      tf.dispose([...Object.values(targets.content), ...Object.values(targets.grams)]);
      x = tf.tidy(() => network.preprocess(rgb(3)));
    }
    const { values, grad } = objective(x!);
    tf.dispose([values, grad]);
  };
}
