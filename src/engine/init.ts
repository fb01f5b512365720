/**
 * @module Where the optimisation starts: noise, the content, or another image.
 */
import * as tf from "@tensorflow/tfjs";

/** Half-width of the reference's uniform noise, in preprocessed pixel units. */
export const NOISE_AMPLITUDE = 2.5;

/**
 * Uniform noise in [−2.5, 2.5] of `shape` (preprocessed space, i.e. a near-mean grey).
 * The same `seed` gives the same noise on every backend's random generator (tfjs's seedrandom).
 */
export function noiseImage(shape: [number, number, number, number], seed: number): tf.Tensor4D {
  return tf.randomUniform(shape, -NOISE_AMPLITUDE, NOISE_AMPLITUDE, "float32", seed) as tf.Tensor4D;
}

/** A seed for runs that gave none: any 32-bit value. */
export function randomSeed(): number {
  return Math.floor(Math.random() * 2 ** 31);
}
