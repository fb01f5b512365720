/**
 * @module The executor on TensorFlow.js: the network's own forward pass (wasm,
 * WebGPU or cpu) and tfjs's tape for the image-gradient, with the fast
 * backward kernels of `src/ops/`.
 *
 * {@linkcode TERMS} holds each loss term's value as tfjs ops; the gradient is
 * the tape's.
 */
import * as tf from "@tensorflow/tfjs";
import type { Features, Mask, Term } from "../loss/terms.ts";
import { TERM_GROUP } from "../loss/terms.ts";
import type { FeatureNetwork } from "../net/network.ts";
import { gram } from "../ops/gram.ts";
import { valueAndGrad } from "../ops/tape.ts";
import type { Evaluation, Executor, Measured, MeasureRequest } from "./executor.ts";

/** F ⊙ mask (F itself without one). */
function masked(f: tf.Tensor4D, mask?: Mask): tf.Tensor4D {
  return mask ? tf.mul(f, mask) : f;
}

/** One term's value, as tfjs ops on the image `x` and its features (under the tape). */
type TermValue<T extends Term> = (term: T, features: Features, x: tf.Tensor4D) => tf.Scalar;

/** Each term kind's value; see `src/loss/terms.ts` for what each computes. */
const TERMS: { [K in Term["kind"]]: TermValue<Extract<Term, { kind: K }>> } = {
  content: ({ layer, weight, target, mask }, features) =>
    tf.mul(tf.sum(masked(tf.squaredDifference(features[layer], target), mask)), weight),
  style: ({ layer, weight, target, mask, mass }, features) => {
    const f = masked(features[layer], mask);
    // gram() divides by the map's h·w·c; a guided Gram by the region's mass·c instead.
    const [, h, w] = f.shape;
    const g = mask ? tf.mul(gram(f), (h * w) / mass!) : gram(f);
    return tf.mul(tf.sum(tf.squaredDifference(g, target)), weight);
  },
  styleSeed: ({ layer, seed, mask }, features) => {
    const f = masked(features[layer], mask);
    // gram() divides FᵀF by the map's h·w·c; the term wants the plain sum.
    return tf.mul(tf.sum(tf.mul(gram(f), seed)), 0.5 * f.size);
  },
  tv: ({ down, right, mask }, _, x) => {
    const [, h, w] = x.shape;
    const pairs = (axis: 1 | 2, weight: number) => {
      if (weight === 0) return tf.scalar(0);
      // Fresh arrays per slice: the tape keeps each op's attributes by reference.
      const size = [-1, -1, -1, -1];
      size[axis] = x.shape[axis] - 1;
      const next = [0, 0, 0, 0];
      next[axis] = 1;
      let squares = tf.squaredDifference(tf.slice(x, next, size), tf.slice(x, [0, 0, 0, 0], size));
      if (mask) {
        const [, rows, cols] = squares.shape;
        squares = tf.mul(squares, tf.slice(mask, [0, 0, 0, 0], [1, rows, cols, 1]));
      }
      return tf.mul(tf.sum(squares), weight);
    };
    return tf.add(pairs(1, h > 1 ? down : 0), pairs(2, w > 1 ? right : 0));
  },
};

function termValue(term: Term, features: Features, x: tf.Tensor4D): tf.Scalar {
  return (TERMS[term.kind] as TermValue<Term>)(term, features, x);
}

/** The layers `terms` read. */
function termLayers(terms: readonly Term[]): string[] {
  return [...new Set(terms.flatMap((t) => ("layer" in t ? [t.layer] : [])))];
}

/**
 * The executor of `network` on the active tfjs backend.
 *
 * @example
 * ```ts
 * const { values, grad } = tfjsExecutor(network).evaluate(x, wholeImageTerms(loss, targets, [h, w]));
 * ```
 */
export function tfjsExecutor(network: FeatureNetwork): Executor {
  return {
    name: "tfjs",
    fixedShapes: false,
    hostMemory: false,
    measure(x: tf.Tensor4D, request: MeasureRequest): Measured {
      return tf.tidy(() => {
        const wanted = [...new Set([...request.features ?? [], ...request.grams ?? []])];
        const features = network.features(x, wanted);
        const out: Measured = { features: {}, gramSums: {}, squareSums: {}, mapSizes: {} };
        for (const layer of request.features ?? []) out.features[layer] = features[layer];
        for (const layer of request.grams ?? []) {
          const f = masked(features[layer], request.masks?.[layer]);
          const [, h, w, c] = f.shape;
          const m = tf.reshape(f, [h * w, c]) as tf.Tensor2D;
          out.gramSums[layer] = tf.matMul(tf.transpose(m), m);
          out.squareSums[layer] = tf.sum(tf.square(m));
          out.mapSizes[layer] = f.size;
        }
        return out as unknown as tf.TensorContainer;
      }) as unknown as Measured;
    },
    evaluate(x: tf.Tensor4D, terms: readonly Term[]): Evaluation {
      const layers = termLayers(terms);
      let values: tf.Tensor1D | undefined;
      const run = valueAndGrad((image: tf.Tensor4D) => {
        const features = layers.length ? network.features(image, layers) : {};
        const groups = [[], [], [], []] as tf.Scalar[][];
        for (const term of terms) {
          groups[TERM_GROUP[term.kind]].push(termValue(term, features, image));
        }
        const sums = groups.map((g) => g.length ? tf.addN(g) as tf.Scalar : tf.scalar(0));
        const total = tf.addN(sums.slice(1)) as tf.Scalar;
        values = tf.keep(tf.stack([total, ...sums.slice(1)]) as tf.Tensor1D);
        return total;
      });
      try {
        const { value, grad } = run(x);
        value.dispose();
        return { values: values!, grad };
      } catch (error) {
        values?.dispose(); // kept before a backward pass that threw
        throw error;
      }
    },
    release() {},
  };
}
