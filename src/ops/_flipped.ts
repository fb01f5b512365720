/**
 * @module Backward kernels of frozen convolutions, made once per filter.
 *
 * The input-gradient of a convolution is a convolution with the filter
 * flipped in both spatial axes and its in/out channels swapped. Filters are
 * frozen, so each flipped copy is made on first use and kept while its filter
 * lives; keeping the same tensor also lets the wasm backend reuse its packed
 * XNNPACK operator instead of repacking the weights every evaluation.
 *
 * A strided convolution's backward kernel is split into phases (see
 * {@linkcode phaseGeometry}), stacked along the output channels.
 */
import * as tf from "@tensorflow/tfjs";

const cache = new Map<tf.Tensor4D, Map<string, tf.Tensor4D>>();

/** Frees the backward kernels whose filters were disposed. */
function sweep(): void {
  for (const [filter, kernels] of cache) {
    if (filter.isDisposed) {
      for (const kernel of kernels.values()) kernel.dispose();
      cache.delete(filter);
    }
  }
}

/** The kernel cached for `filter` under `key`, made by `make` (out of any tidy) on first use. */
function cached(filter: tf.Tensor4D, key: string, make: () => tf.Tensor4D): tf.Tensor4D {
  let kernels = cache.get(filter);
  if (!kernels) {
    sweep();
    kernels = new Map();
    cache.set(filter, kernels);
  }
  let kernel = kernels.get(key);
  if (!kernel) {
    kernel = tf.keep(tf.tidy(make));
    kernels.set(key, kernel);
  }
  return kernel;
}

/** `filter` `[kh, kw, in, out]` flipped spatially, as `[kh, kw, out, in]`. */
export function flipKernel(filter: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]));
}

/** The cached backward kernel of `filter`; made (and kept out of any tidy) on first use. */
export function backwardKernel(filter: tf.Tensor4D): tf.Tensor4D {
  return cached(filter, "flipped", () => flipKernel(filter));
}

/**
 * How a stride-`s` convolution's input-gradient splits into `s` phases along one axis.
 *
 * Input index `i = a·s + r` (phase `r`) receives `dz[o]·w[t]` wherever `o·s - p + t = i`,
 * i.e. from the taps `t ≡ r + p (mod s)` only, each reading `dz` at `a + start + j` for
 * a fixed `j`. So every phase is a stride-1 correlation of the undilated `dz` with its
 * own sub-kernel; aligned on a common window `start .. start + size - 1`, `taps[r][j]` is
 * the filter tap window position `j` of phase `r` uses, or -1 where the phase has none.
 */
export interface PhaseGeometry {
  /** Offset, in `dz` samples, of the window's first position from `a`. */
  start: number;
  /** Window length shared by all phases. */
  size: number;
  /** `taps[r][j]`: the filter tap at window position `j` for phase `r`, or -1. */
  taps: number[][];
}

/** The {@linkcode PhaseGeometry} of a `k`-tap, stride-`s`, `p`-padded axis. */
export function phaseGeometry(k: number, s: number, p: number): PhaseGeometry {
  const phases = Array.from({ length: s }, (_, r) => {
    const first = (r + p) % s; // the phase's first tap
    const last = Math.floor((r + p) / s); // dz offset read by tap `first`
    const count = first < k ? Math.ceil((k - first) / s) : 0;
    return { first, last, count };
  });
  const used = phases.filter((ph) => ph.count > 0);
  const start = Math.min(...used.map((ph) => ph.last - ph.count + 1));
  const end = Math.max(...used.map((ph) => ph.last));
  const size = end - start + 1;
  const taps = phases.map(({ first, last, count }) =>
    Array.from({ length: size }, (_, j) => {
      const m = last - start - j; // tap first + m·s reads dz[a + last - m]
      return m >= 0 && m < count ? first + m * s : -1;
    })
  );
  return { start, size, taps };
}

/**
 * The cached polyphase backward kernel of a stride-`s`, `p`-padded `filter`
 * `[kh, kw, in, out]`: shape `[rows.size, cols.size, out, s·s·in]`, where output
 * channel `(rh·s + rw)·in + c` is input channel `c` of phase `(rh, rw)`, the
 * order `tf.depthToSpace` interleaves.
 */
export function polyphaseKernel(filter: tf.Tensor4D, s: number, p: number): tf.Tensor4D {
  return cached(filter, `phases ${s} ${p}`, () => {
    const [kh, kw, cin, cout] = filter.shape;
    const rows = phaseGeometry(kh, s, p);
    const cols = phaseGeometry(kw, s, p);
    const zero = kh * kw * cin * cout; // index of an appended 0
    const index = new Int32Array(rows.size * cols.size * cout * s * s * cin);
    let at = 0;
    for (let jh = 0; jh < rows.size; jh++) {
      for (let jw = 0; jw < cols.size; jw++) {
        for (let co = 0; co < cout; co++) {
          for (let rh = 0; rh < s; rh++) {
            for (let rw = 0; rw < s; rw++) {
              const [th, tw] = [rows.taps[rh][jh], cols.taps[rw][jw]];
              for (let ci = 0; ci < cin; ci++) {
                index[at++] = th < 0 || tw < 0 ? zero : ((th * kw + tw) * cin + ci) * cout + co;
              }
            }
          }
        }
      }
    }
    const flat = tf.concat([tf.reshape(filter, [zero]), tf.zeros([1])]);
    return tf.reshape(tf.gather(flat, tf.tensor1d(index, "int32")), [
      rows.size,
      cols.size,
      cout,
      s * s * cin,
    ]);
  });
}

/** Frees every cached backward kernel (they are remade on demand). */
export function releaseBackwardKernels(): void {
  for (const kernels of cache.values()) {
    for (const kernel of kernels.values()) kernel.dispose();
  }
  cache.clear();
}
