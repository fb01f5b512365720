/**
 * @module Pooling with Caffe's ceil-mode output size.
 */
import * as tf from "@tensorflow/tfjs";

/** Pooling geometry, as Caffe's prototxt states it. */
export interface PoolSpec {
  kernel: number;
  stride: number;
  pad: number;
  kind: "max" | "avg";
}

/** Caffe's pooled size: ceil((H + 2p - k) / s) + 1, minus one if the last window starts in the padding. */
export function caffePooledSize(size: number, spec: PoolSpec): number {
  let out = Math.ceil((size + 2 * spec.pad - spec.kernel) / spec.stride) + 1;
  if (spec.pad > 0 && (out - 1) * spec.stride >= size + spec.pad) out -= 1;
  return out;
}

// Activations pooled here follow a ReLU, so any value below zero never wins a max;
// a finite one keeps gradients free of inf - inf.
const MAX_POOL_PAD = -1e4;

/** Pools `x` as Caffe would, padding the far edge so ceil-mode windows fit. */
export function caffePool(x: tf.Tensor4D, spec: PoolSpec): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = x.shape;
    const { kernel: k, stride: s, pad: p } = spec;
    const outH = caffePooledSize(h, spec);
    const outW = caffePooledSize(w, spec);
    const extraH = Math.max(0, (outH - 1) * s + k - (h + 2 * p));
    const extraW = Math.max(0, (outW - 1) * s + k - (w + 2 * p));
    const padValue = spec.kind === "max" ? MAX_POOL_PAD : 0;
    const padded = p + extraH + extraW > 0
      ? tf.pad(x, [[0, 0], [p, p + extraH], [p, p + extraW], [0, 0]], padValue)
      : x;
    if (spec.kind === "max") return tf.maxPool(padded, k, s, "valid");
    const pooled = tf.avgPool(padded, k, s, "valid");
    if (extraH + extraW === 0) return pooled;
    // Caffe divides a window that overhangs the padded input by the part that fits.
    const ones = tf.ones([1, h + 2 * p, w + 2 * p, 1]) as tf.Tensor4D;
    const inside = tf.pad(ones, [[0, 0], [0, extraH], [0, extraW], [0, 0]]);
    return tf.div(pooled, tf.avgPool(inside, k, s, "valid"));
  });
}
