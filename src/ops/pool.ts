/**
 * @module Pooling with Caffe's ceil-mode output size.
 *
 * With the fast backward pass on, max pooling's image-gradient is built from
 * strided slices and element-wise ops instead of the wasm backend's naive
 * `MaxPoolGrad` loop (the largest single cost of a SqueezeNet evaluation).
 */
import * as tf from "@tensorflow/tfjs";
import { fastBackward } from "./fast_backward.ts";

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
    if (spec.kind === "max") {
      return fastBackward() ? fastMaxPool(padded, k, s) : tf.maxPool(padded, k, s, "valid");
    }
    const pooled = tf.avgPool(padded, k, s, "valid");
    if (extraH + extraW === 0) return pooled;
    // Caffe divides a window that overhangs the padded input by the part that fits.
    const ones = tf.ones([1, h + 2 * p, w + 2 * p, 1]) as tf.Tensor4D;
    const inside = tf.pad(ones, [[0, 0], [0, extraH], [0, extraW], [0, 0]]);
    return tf.div(pooled, tf.avgPool(inside, k, s, "valid"));
  });
}

/**
 * Valid max pooling whose gradient routes each output's gradient to the first
 * maximum of its window in row-major order, as tfjs's `MaxPoolGrad` does.
 *
 * Window offset (i, j) reads `x[o·s + i, q·s + j]`; the gradient it passes back
 * lands on the input rows of phase `i mod s`, shifted by `floor(i / s)` rows. So
 * each phase's plane is a sum of shifted output-sized tensors, and interleaving
 * the s×s planes gives the input-sized gradient.
 */
function fastMaxPool(x: tf.Tensor4D, k: number, s: number): tf.Tensor4D {
  const op = tf.customGrad((input, save) => {
    const y = tf.maxPool(input as tf.Tensor4D, k, s, "valid");
    (save as tf.GradSaveFunc)([input as tf.Tensor4D, y]);
    return {
      value: y,
      gradFunc: (dy, [xs, ys]) =>
        maxPoolInputGradient(dy as tf.Tensor4D, xs as tf.Tensor4D, ys as tf.Tensor4D, k, s),
    };
  });
  return op(x) as tf.Tensor4D;
}

function maxPoolInputGradient(
  dy: tf.Tensor4D,
  x: tf.Tensor4D,
  y: tf.Tensor4D,
  k: number,
  s: number,
): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = x.shape;
    const [, oh, ow] = y.shape;
    const reach = Math.floor((k - 1) / s); // furthest shift, in output steps
    const [rows, cols] = [oh + reach, ow + reach];
    // x at rows a·s + pi, columns b·s + pj, as a [n, rows, cols, c] plane per phase.
    // (Plain slices of reshaped views: the wasm backend's StridedSlice is a slow JS loop.)
    const fitted = fit(x, rows * s, cols * s);
    const phases = new Map<string, tf.Tensor4D>();
    const phaseOf = (pi: number, pj: number): tf.Tensor4D => {
      const key = `${pi},${pj}`;
      let plane = phases.get(key);
      if (!plane) {
        const rowPhase = tf.slice(tf.reshape(fitted, [n * rows, s, cols * s * c]), [0, pi, 0], [
          n * rows,
          1,
          cols * s * c,
        ]);
        const both = tf.slice(tf.reshape(rowPhase, [n * rows * cols, s, c]), [0, pj, 0], [
          n * rows * cols,
          1,
          c,
        ]);
        plane = tf.reshape(both, [n, rows, cols, c]);
        phases.set(key, plane);
      }
      return plane;
    };
    const planes = new Map<string, tf.Tensor4D[]>();
    const zeros = tf.zerosLike(dy);
    let taken: tf.Tensor | null = null;
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        const [di, dj] = [Math.floor(i / s), Math.floor(j / s)];
        const window = tf.slice(phaseOf(i % s, j % s), [0, di, dj, 0], [n, oh, ow, c]);
        let hit: tf.Tensor = tf.equal(window, y);
        if (taken) hit = tf.logicalAnd(hit, tf.logicalNot(taken));
        taken = taken ? tf.logicalOr(taken, hit) : hit;
        const routed = tf.pad(tf.where(hit, dy, zeros), [
          [0, 0],
          [di, reach - di],
          [dj, reach - dj],
          [0, 0],
        ]) as tf.Tensor4D;
        const phase = `${i % s},${j % s}`;
        planes.set(phase, [...(planes.get(phase) ?? []), routed]);
      }
    }
    const plane = (pi: number, pj: number): tf.Tensor4D => {
      const parts = planes.get(`${pi},${pj}`);
      if (!parts) return tf.zeros([n, rows, cols, c]);
      return parts.length === 1 ? parts[0] : tf.addN(parts);
    };
    // Input row a·s + pi, column b·s + pj is plane (pi, pj) at (a, b).
    const rowsOf = (pi: number) =>
      tf.reshape(tf.stack(Array.from({ length: s }, (_, pj) => plane(pi, pj)), 3), [
        n,
        rows,
        cols * s,
        c,
      ]);
    const interleaved: tf.Tensor4D = s === 1 ? plane(0, 0) : tf.reshape<tf.Rank.R4>(
      tf.stack(Array.from({ length: s }, (_, pi) => rowsOf(pi)), 2),
      [n, rows * s, cols * s, c],
    );
    return fit(interleaved, h, w);
  });
}

/** `x` cut or zero-padded at the bottom and right to `h` x `w`. */
function fit(x: tf.Tensor4D, h: number, w: number): tf.Tensor4D {
  const [n, xh, xw, c] = x.shape;
  const cut = xh > h || xw > w
    ? tf.slice(x, [0, 0, 0, 0], [n, Math.min(xh, h), Math.min(xw, w), c])
    : x;
  return xh < h || xw < w
    ? tf.pad(cut, [[0, 0], [0, Math.max(0, h - xh)], [0, Math.max(0, w - xw)], [0, 0]])
    : cut;
}
