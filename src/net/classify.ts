/**
 * @module ImageNet classification with a network that kept its classifier.
 *
 * Used to prove a network and its weights are right (real photos must get
 * their real classes), and handy for users checking an installation.
 */
import * as tf from "@tensorflow/tfjs";
import { resizeImage } from "../image/codec.ts";
import type { RgbaImage } from "../image/image.ts";
import type { GraphNetwork } from "./graph.ts";

/** One predicted class. */
export interface Prediction {
  /** Class index (line of `synset_words.txt`). */
  index: number;
  /** Label without the WordNet id, e.g. `Egyptian cat`; empty when unknown. */
  label: string;
  /** Softmax probability, 0..1. */
  probability: number;
}

/** RGBA pixels -> RGB 0..255 tensor `[1, h, w, 3]`. */
export function rgbTensor(image: RgbaImage): tf.Tensor4D {
  return tf.tidy(() => {
    const rgba = tf.tensor3d(image.data, [image.height, image.width, 4], "int32");
    return tf.expandDims(tf.cast(tf.slice(rgba, [0, 0, 0], [-1, -1, 3]), "float32"), 0);
  });
}

/**
 * Resizes `image` to `size` x `size` with imagescript's nearest neighbour (no
 * crop), as the weights' verification did.
 */
export function resizeForClassifier(image: RgbaImage, size: number): RgbaImage {
  return resizeImage(image, size, size);
}

/** The `k` most probable classes of `image`, resized to the network's input size. */
export async function classify(
  network: GraphNetwork,
  image: RgbaImage,
  k = 5,
): Promise<Prediction[]> {
  const size = network.inputSize;
  if (size === undefined) throw new Error(`${network.id} has no classifier head`);
  const resized = resizeForClassifier(image, size);
  const probabilities = tf.tidy(() => {
    const x = network.preprocess(rgbTensor(resized));
    return tf.softmax(network.logits(x));
  });
  // Asynchronous: WebGPU's synchronous read-back needs a canvas, which Deno lacks.
  const values = await probabilities.data();
  probabilities.dispose();
  return Array.from(values, (probability, index) => ({ index, probability }))
    .sort((a, b) => b.probability - a.probability)
    .slice(0, k)
    .map(({ index, probability }) => ({
      index,
      probability,
      label: network.labels?.[index]?.replace(/^n\d+ /, "") ?? "",
    }));
}
