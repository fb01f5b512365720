/**
 * @module What a network layer computes, as data, and its geometry.
 *
 * Every network is a list of these ops (`src/net/`); each executor has one
 * implementation per op kind (`run_op.ts` for tfjs, `src/onnx/network.ts` for
 * ONNX Runtime), and the geometry here (output sizes, Caffe's ceil-mode
 * pooling, the blur window) is the one both follow. No tfjs here.
 */
import type { ConvLayer } from "./conv.ts";

/** Pooling geometry, as Caffe's prototxt states it. */
export interface PoolSpec {
  kernel: number;
  stride: number;
  pad: number;
  /**
   * `max`, `avg` (a box window), or `blur`: a 3x3 stride-2 window weighted by
   * [1,2,1]⊗[1,2,1]/16 (Zhang 2019's anti-aliased pooling). With overlapping
   * 3-wide windows at stride 2 a box covers every other input twice, so the
   * image-gradient is stronger on a lattice and the optimiser paints a grid;
   * the binomial weights cover every input equally. Other geometries: `avg`.
   */
  kind: "max" | "avg" | "blur";
}

/** One layer's computation. */
export type LayerOp =
  /** Convolution + bias + ReLU. */
  | { type: "conv"; layer: ConvLayer }
  /** Caffe's ceil-mode pool ({@linkcode PoolSpec}); `floor` crops an odd last row/column first (Keras). */
  | { type: "pool"; spec: PoolSpec; floor?: boolean }
  /** Channel concatenation of the inputs, in order. */
  | { type: "concat" }
  /** Caffe LRN across channels: x / (bias + alpha/size · Σ x²)^beta over `size` channels. */
  | { type: "lrn"; size: number; alpha: number; beta: number; bias: number };

/** `[height, width]` of a blob. */
export type BlobSize = readonly [number, number];

/**
 * Max pools pad with this: the activations they pool follow a ReLU, so it never wins,
 * and a finite value keeps gradients free of inf - inf.
 */
export const MAX_POOL_PAD = -1e4;

/** Caffe's pooled size: ceil((H + 2p - k) / s) + 1, minus one if the last window starts in the padding. */
export function caffePooledSize(size: number, spec: PoolSpec): number {
  let out = Math.ceil((size + 2 * spec.pad - spec.kernel) / spec.stride) + 1;
  if (spec.pad > 0 && (out - 1) * spec.stride >= size + spec.pad) out -= 1;
  return out;
}

/**
 * A pool along one axis of `size`: the rows it uses (`floor` drops those no whole window
 * reaches), the far-edge padding ceil mode adds (`extra`), the padded length and the output's.
 */
export function poolAxis(size: number, spec: PoolSpec, floor = false) {
  const { kernel: k, stride: s, pad: p } = spec;
  const used = floor ? Math.floor((size + 2 * p - k) / s) * s + k - 2 * p : size;
  const pooled = caffePooledSize(used, spec);
  const extra = Math.max(0, (pooled - 1) * s + k - (used + 2 * p));
  const padded = used + 2 * p + extra;
  return { used, extra, padded, out: Math.floor((padded - k) / s) + 1 };
}

/** Whether a pool is the binomial [1,2,1] window (`blur` at 3x3 stride 2; else it averages). */
export function isBinomial({ kernel, stride, kind }: PoolSpec): boolean {
  return kind === "blur" && kernel === 3 && stride === 2;
}

/**
 * The weights of an averaging pool's window, row-major: a box (`avg`), or the
 * binomial [1,2,1]⊗[1,2,1]/16 ({@linkcode isBinomial}).
 */
export function poolWindow(spec: PoolSpec): Float32Array {
  const k = spec.kernel;
  if (isBinomial(spec)) {
    const b = [1, 2, 1];
    return Float32Array.from({ length: 9 }, (_, i) => (b[Math.floor(i / 3)] * b[i % 3]) / 16);
  }
  return new Float32Array(k * k).fill(1 / (k * k));
}

/** A convolution's output side: floor((n + 2p - k) / s) + 1 (0 when the kernel does not fit). */
export function convOutputSide(n: number, kernel: number, stride: number, pad: number): number {
  const span = n + 2 * pad - kernel;
  return span < 0 ? 0 : Math.floor(span / stride) + 1;
}

/**
 * The output's `[height, width]` of `op` for inputs of `inputs`' sizes, without running
 * anything; a side of 0 means the layer cannot run at that size.
 */
export function opOutputSize(op: LayerOp, inputs: readonly BlobSize[]): BlobSize {
  const [[h, w]] = inputs;
  switch (op.type) {
    case "conv": {
      // Reflect or zero, the padding is `pad` wide: the size is the same.
      const { filter, stride, pad } = op.layer;
      const [kh, kw] = filter.shape;
      return [convOutputSide(h, kh, stride, pad), convOutputSide(w, kw, stride, pad)];
    }
    case "pool":
      return [poolAxis(h, op.spec, op.floor).out, poolAxis(w, op.spec, op.floor).out];
    case "concat":
      // Branches of different sizes cannot be concatenated: the concat then cannot run.
      return inputs.every(([a, b]) => a === h && b === w) ? [h, w] : [0, 0];
    case "lrn":
      return [h, w];
  }
}
