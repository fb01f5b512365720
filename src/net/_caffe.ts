/**
 * @module What SqueezeNet and GoogLeNet share as Caffe networks: their training's
 * channel means, LRN across channels, and the fire and inception modules, each
 * producing blobs named as in Caffe.
 */
import type { GraphLayer } from "./graph.ts";
import { concat, conv, pool, type WeightTensors } from "./layers.ts";

/** Per-channel means (B, G, R) of both Caffe nets' training. */
export const CAFFE_MEAN_BGR: readonly [number, number, number] = [104, 117, 123];

/**
 * Caffe LRN across 5 channels, alpha 1e-4, beta 0.75, k 1:
 * x / (1 + alpha/5 · Σ x²)^0.75.
 */
export function lrn(name: string, input: string): GraphLayer {
  return {
    name,
    inputs: [input],
    op: { type: "lrn", size: 5, alpha: 1e-4, beta: 0.75, bias: 1 },
  };
}

/**
 * SqueezeNet's fire module: squeeze 1x1, then expand 1x1 and expand 3x3 side
 * by side, concatenated expand1x1 first.
 */
export function fire(w: WeightTensors, module: string, input: string): GraphLayer[] {
  const b = (blob: string) => `${module}/${blob}`;
  return [
    conv(w, b("squeeze1x1"), input),
    conv(w, b("expand1x1"), b("squeeze1x1")),
    conv(w, b("expand3x3"), b("squeeze1x1"), { pad: 1 }),
    concat(b("concat"), [b("expand1x1"), b("expand3x3")]),
  ];
}

/**
 * GoogLeNet's inception module: four branches (1x1; 1x1 -> 3x3; 1x1 -> 5x5;
 * 3x3 max pool -> 1x1) concatenated in that order as `<module>/output`.
 */
export function inception(w: WeightTensors, module: string, input: string): GraphLayer[] {
  const b = (blob: string) => `${module}/${blob}`;
  return [
    conv(w, b("1x1"), input),
    conv(w, b("3x3_reduce"), input),
    conv(w, b("3x3"), b("3x3_reduce"), { pad: 1 }),
    conv(w, b("5x5_reduce"), input),
    conv(w, b("5x5"), b("5x5_reduce"), { pad: 2 }),
    pool(b("pool"), input, { kernel: 3, stride: 1, pad: 1, kind: "max" }),
    conv(w, b("pool_proj"), b("pool")),
    concat(b("output"), [b("1x1"), b("3x3"), b("5x5"), b("pool_proj")]),
  ];
}
