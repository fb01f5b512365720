/** Test helper: reflect padding built from slices, reversals and concatenations. */
import * as tf from "@tensorflow/tfjs";

/**
 * `x` padded by `p` on each spatial side with its reflection (edge not repeated), from
 * ops tfjs differentiates exactly: the reference for `reflectPad()` and the ONNX graph's
 * reflect padding (`tf.mirrorPad`'s own gradient drops the bands).
 */
export function reflectBySlices(x: tf.Tensor4D, p: number): tf.Tensor4D {
  const along = (t: tf.Tensor4D, axis: 1 | 2) => {
    const n = t.shape[axis];
    const part = (start: number) => {
      const begin = [0, 0, 0, 0], size = [-1, -1, -1, -1];
      begin[axis] = start;
      size[axis] = p;
      return tf.reverse(tf.slice(t, begin, size), axis);
    };
    return tf.concat([part(1), t, part(n - 1 - p)], axis) as tf.Tensor4D;
  };
  return along(along(x, 1), 2);
}
