/**
 * @module The tfjs executor's implementation of each layer op ({@linkcode LayerOp}),
 * with the fast image-gradients of this folder (`conv.ts`, `pool.ts`).
 */
import * as tf from "@tensorflow/tfjs";
import { convRelu } from "./conv.ts";
import type { LayerOp } from "./layer_op.ts";
import { poolAxis } from "./layer_op.ts";
import { caffePool } from "./pool.ts";

/** Each op kind on tfjs tensors (NHWC). */
const OPS: {
  [K in LayerOp["type"]]: (op: Extract<LayerOp, { type: K }>, xs: tf.Tensor4D[]) => tf.Tensor4D;
} = {
  conv: (op, [x]) => convRelu(x, op.layer),
  pool: (op, [x]) => {
    if (!op.floor) return caffePool(x, op.spec);
    // Keras's floor mode: crop the rows and columns no whole window reaches, then pool.
    const [n, h, w, c] = x.shape;
    const [rows, cols] = [poolAxis(h, op.spec, true).used, poolAxis(w, op.spec, true).used];
    return tf.tidy(() => {
      const used = rows === h && cols === w ? x : tf.slice(x, [0, 0, 0, 0], [n, rows, cols, c]);
      return caffePool(used as tf.Tensor4D, op.spec);
    });
  },
  concat: (_, xs) => tf.concat(xs, 3),
  // tfjs's depth radius is (size - 1) / 2, and it does not divide alpha by the window.
  lrn: ({ size, alpha, beta, bias }, [x]) =>
    tf.localResponseNormalization(x, (size - 1) / 2, bias, alpha / size, beta),
};

/** `op` applied to `inputs`. */
export function runOp(op: LayerOp, inputs: tf.Tensor4D[]): tf.Tensor4D {
  return (OPS[op.type] as (op: LayerOp, xs: tf.Tensor4D[]) => tf.Tensor4D)(op, inputs);
}
