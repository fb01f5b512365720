/**
 * @module Reflect padding with an exact gradient.
 *
 * Zero padding makes every convolution see a dark frame around the image; the
 * optimiser then paints a bright or striped band along the borders to answer
 * it. Reflect padding (as neural-style-pt's `-padding reflect`) shows the
 * convolution the image's own edge instead.
 *
 * tfjs's MirrorPad gradient keeps only the centre of the output gradient and
 * drops what flowed through the reflected bands; here each band's gradient is
 * folded back onto the pixels it copied, so the gradient is exact.
 */
import * as tf from "@tensorflow/tfjs";

/** `x` `[n, h, w, c]` padded by `p` on each spatial side with its reflection (edge not repeated). */
export function reflectPad(x: tf.Tensor4D, p: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (p >= h || p >= w) {
    throw new RangeError(`reflectPad: padding ${p} needs an image of at least ${p + 1}x${p + 1}`);
  }
  const op = tf.customGrad((input) => ({
    value: tf.mirrorPad(input as tf.Tensor4D, [[0, 0], [p, p], [p, p], [0, 0]], "reflect"),
    gradFunc: (dy) => foldAxis(foldAxis(dy as tf.Tensor4D, 2, p), 1, p),
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * The gradient of reflect-padding one axis by `p`: the centre, plus each band
 * reversed and added onto the `p` pixels next to the edge it mirrors.
 */
function foldAxis(dy: tf.Tensor4D, axis: 1 | 2, p: number): tf.Tensor4D {
  return tf.tidy(() => {
    const n = dy.shape[axis] - 2 * p; // the unpadded length
    const part = (start: number, size: number) => {
      const begin = [0, 0, 0, 0], sizes = [-1, -1, -1, -1];
      begin[axis] = start;
      sizes[axis] = size;
      return tf.slice(dy, begin, sizes);
    };
    const zeros = (size: number) => {
      const shape = [...dy.shape];
      shape[axis] = size;
      return tf.zeros(shape);
    };
    // Band pixel p-1-k mirrors input pixel k+1; far band pixel n+p+k mirrors n-2-k.
    const front = tf.concat([zeros(1), tf.reverse(part(0, p), axis), zeros(n - 1 - p)], axis);
    const back = tf.concat([zeros(n - 1 - p), tf.reverse(part(n + p, p), axis), zeros(1)], axis);
    return tf.addN([part(p, n), front, back]) as tf.Tensor4D;
  });
}
