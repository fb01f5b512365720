/**
 * @module Backward kernels of frozen convolutions, made once per filter.
 *
 * The input-gradient of a convolution is a convolution with the filter
 * flipped in both spatial axes and its in/out channels swapped. Filters are
 * frozen, so each flipped copy is made on first use and kept while its filter
 * lives; keeping the same tensor also lets the wasm backend reuse its packed
 * XNNPACK operator instead of repacking the weights every evaluation.
 */
import * as tf from "@tensorflow/tfjs";

const cache = new Map<tf.Tensor4D, tf.Tensor4D>();

/** Frees the backward kernels whose filters were disposed. */
function sweep(): void {
  for (const [filter, flipped] of cache) {
    if (filter.isDisposed) {
      flipped.dispose();
      cache.delete(filter);
    }
  }
}

/** `filter` `[kh, kw, in, out]` flipped spatially, as `[kh, kw, out, in]`. */
export function flipKernel(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]));
}

/** The cached backward kernel of `filter`; made (and kept out of any tidy) on first use. */
export function backwardKernel(filter: tf.Tensor4D): tf.Tensor4D {
  let flipped = cache.get(filter);
  if (!flipped) {
    sweep();
    flipped = tf.keep(flipKernel(filter));
    cache.set(filter, flipped);
  }
  return flipped;
}

/** Frees every cached backward kernel (they are remade on demand). */
export function releaseBackwardKernels(): void {
  for (const flipped of cache.values()) flipped.dispose();
  cache.clear();
}
