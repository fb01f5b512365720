/**
 * @module Pooling with Caffe's ceil-mode output size.
 *
 * With the fast backward pass on, max pooling's image-gradient is built from
 * strided slices and element-wise ops instead of the wasm backend's naive
 * `MaxPoolGrad` loop (the largest single cost of a SqueezeNet evaluation), and
 * blur pooling's from forward pooling kernels instead of its naive `AvgPoolGrad`.
 */
import * as tf from "@tensorflow/tfjs";
import { fastBackward } from "./fast_backward.ts";
import { caffePooledSize, isBinomial, MAX_POOL_PAD, type PoolSpec } from "./layer_op.ts";

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
    const pool = isBinomial(spec) ? binomialPool : (t: tf.Tensor4D) => tf.avgPool(t, k, s, "valid");
    const pooled = pool(padded);
    if (extraH + extraW === 0) return pooled;
    // Caffe divides a window that overhangs the padded input by the part that fits.
    const ones = tf.ones([1, h + 2 * p, w + 2 * p, 1]) as tf.Tensor4D;
    const inside = tf.pad(ones, [[0, 0], [0, extraH], [0, extraW], [0, 0]]);
    return tf.div(pooled, pool(inside));
  });
}

/** Valid 3x3 stride-2 pooling weighted [1,2,1]⊗[1,2,1]/16: a 2x2 box at stride 1, then at stride 2. */
function binomialPool(x: tf.Tensor4D): tf.Tensor4D {
  if (!fastBackward()) return tf.avgPool(tf.avgPool(x, 2, 1, "valid"), 2, 2, "valid");
  const op = tf.customGrad((input, save) => {
    const box = tf.avgPool(input as tf.Tensor4D, 2, 1, "valid");
    (save as tf.GradSaveFunc)([box]);
    return {
      value: tf.avgPool(box, 2, 2, "valid"),
      gradFunc: (dy, [boxed]) =>
        tf.tidy(() => {
          // The stride-2 box hands each output's gradient to its 2x2 window, a quarter each
          // (rows and columns its windows never reach get none).
          const [, h, w] = boxed.shape as number[];
          const [, oh, ow] = dy.shape as number[];
          const spread = tf.div(
            tf.image.resizeNearestNeighbor(dy as tf.Tensor4D, [2 * oh, 2 * ow]),
            4,
          );
          const dBox = tf.pad(spread, [[0, 0], [0, h - 2 * oh], [0, w - 2 * ow], [0, 0]]);
          // The stride-1 box's gradient is the same box over its gradient, zero-padded by one.
          return tf.avgPool(
            tf.pad(dBox, [[0, 0], [1, 1], [1, 1], [0, 0]]) as tf.Tensor4D,
            2,
            1,
            "valid",
          );
        }),
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * Valid max pooling whose gradient routes each output's gradient to the first
 * maximum of its window in row-major order, as tfjs's `MaxPoolGrad` does.
 *
 * The window max is separable: a row max over each window row (`rowMax`, k wide),
 * then a column max over k row maxima. So is the routing: the first maximum in
 * row-major order lies in the first window row whose row max equals the output,
 * at the first column where that row reaches it. The gradient therefore goes back
 * through two one-dimensional max pools, each routed to its first maximum.
 */
function fastMaxPool(x: tf.Tensor4D, k: number, s: number): tf.Tensor4D {
  const op = tf.customGrad((input, save) => {
    const rowMax = tf.maxPool(input as tf.Tensor4D, [1, k], [1, s], "valid");
    const y = tf.maxPool(rowMax, [k, 1], [s, 1], "valid");
    (save as tf.GradSaveFunc)([input as tf.Tensor4D, rowMax, y]);
    return {
      value: y,
      gradFunc: (dy, [xs, rowMaxs, ys]) =>
        tf.tidy(() => {
          const [n, h, w, c] = xs.shape as number[];
          const [, oh, ow] = ys.shape as number[];
          // Down the rows: each output's gradient goes to the first window row holding its max.
          const dRowMax = routeToFirstMaxima(
            tf.reshape(rowMaxs, [n, h, ow * c]),
            tf.reshape(ys, [n, oh, ow * c]),
            tf.reshape(dy, [n, oh, ow * c]),
            k,
            s,
          );
          // Along each row: a row max's gradient goes to the first column holding it.
          const dx = routeToFirstMaxima(
            tf.reshape(xs, [n * h, w, c]),
            tf.reshape(rowMaxs, [n * h, ow, c]),
            tf.reshape(dRowMax, [n * h, ow, c]),
            k,
            s,
          );
          return tf.reshape(dx, [n, h, w, c]);
        }),
    };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * The input-gradient of a valid max pool along axis 1 of `x` (`[a, length, b]`,
 * window `k`, stride `s`, pooled `y`, output gradient `dy`): each output's
 * gradient goes to the first maximum of its window.
 *
 * Window offset i reads `x[o·s + i]`, i.e. row `o + floor(i / s)` of phase plane
 * `i mod s`; offsets are scanned in order and each takes the gradient still
 * unrouted where it holds the max (the last offset takes whatever is left, since
 * some offset holds it). Each phase plane sums its shifted parts, and
 * interleaving the s planes gives the input-sized gradient. (Plain slices of a
 * reshaped view: the wasm backend's StridedSlice is a slow JS loop.)
 */
function routeToFirstMaxima(
  x: tf.Tensor3D,
  y: tf.Tensor3D,
  dy: tf.Tensor3D,
  k: number,
  s: number,
): tf.Tensor3D {
  const [a, length, b] = x.shape;
  const out = y.shape[1];
  const reach = Math.floor((k - 1) / s); // furthest shift, in output steps
  const rows = out + reach;
  const view = tf.reshape(fitRows(x, rows * s), [a, rows, s, b]);
  const zeros = tf.zerosLike(dy);
  const parts: tf.Tensor3D[][] = Array.from({ length: s }, () => []);
  let rest = dy;
  for (let i = 0; i < k; i++) {
    const shift = Math.floor(i / s);
    let routed = rest;
    if (i < k - 1) {
      const window = tf.reshape(tf.slice(view, [0, shift, i % s, 0], [a, out, 1, b]), [a, out, b]);
      const hit = tf.equal(window, y);
      routed = tf.where(hit, rest, zeros);
      rest = tf.where(hit, zeros, rest);
    }
    parts[i % s].push(tf.pad(routed, [[0, 0], [shift, reach - shift], [0, 0]]));
  }
  const planes = parts.map((p) =>
    p.length === 0 ? tf.zeros<tf.Rank.R3>([a, rows, b]) : p.length === 1 ? p[0] : tf.addN(p)
  );
  const joined = s === 1
    ? planes[0]
    : tf.reshape<tf.Rank.R3>(tf.stack(planes, 2), [a, rows * s, b]);
  return fitRows(joined, length);
}

/** `x` (`[a, rows, b]`) cut or zero-padded at the end of axis 1 to `length` rows. */
function fitRows(x: tf.Tensor3D, length: number): tf.Tensor3D {
  const [a, rows, b] = x.shape;
  if (rows > length) return tf.slice(x, [0, 0, 0], [a, length, b]);
  if (rows < length) return tf.pad(x, [[0, 0], [0, length - rows], [0, 0]]);
  return x;
}
