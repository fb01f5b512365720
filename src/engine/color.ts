/**
 * @module Preserving the content's colours (Gatys et al., "Preserving Color in Neural Artistic Style Transfer", 2016).
 *
 * Two ways: transfer luminance only (the result's Y, the content's chroma), or
 * match the style image's colour statistics to the content's before optimising.
 * (Optimising the luminance itself, Gatys et al. 2017's variant, is `greyLuminance`
 * on content and style first; `bench/masks.ts` compares the two: the result's Y
 * recoloured looked better, so that is what `preserveColors` does.)
 * Images here are `[1, h, w, 3]` RGB in 0..255.
 */
import * as tf from "@tensorflow/tfjs";

// NTSC YIQ; rows give Y, I, Q from R, G, B.
const RGB_TO_YIQ = [
  [0.299, 0.587, 0.114],
  [0.595716, -0.274453, -0.321263],
  [0.211456, -0.522591, 0.311135],
];

function applyMatrix(rgb: tf.Tensor4D, m: number[][]): tf.Tensor4D {
  return tf.tidy(() => {
    const [, h, w] = rgb.shape;
    const flat = tf.reshape(rgb, [h * w, 3]);
    return tf.reshape(tf.matMul(flat, tf.tensor2d(m), false, true), [1, h, w, 3]) as tf.Tensor4D;
  });
}

/** RGB -> YIQ (Y in 0..255). */
export function rgbToYiq(rgb: tf.Tensor4D): tf.Tensor4D {
  return applyMatrix(rgb, RGB_TO_YIQ);
}

/** YIQ -> RGB, the exact inverse of {@linkcode rgbToYiq}. */
export function yiqToRgb(yiq: tf.Tensor4D): tf.Tensor4D {
  return applyMatrix(yiq, invert3(RGB_TO_YIQ));
}

/** The result's luminance with the content's chroma (same size), clipped to 0..255. */
export function luminanceTransfer(result: tf.Tensor4D, content: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const y = tf.slice(rgbToYiq(result), [0, 0, 0, 0], [-1, -1, -1, 1]);
    const iq = tf.slice(rgbToYiq(content), [0, 0, 0, 1], [-1, -1, -1, 2]);
    return tf.clipByValue(yiqToRgb(tf.concat([y, iq], 3)), 0, 255);
  });
}

/**
 * `rgb`'s luminance as a grey RGB image (Y in each channel): what luminance-only transfer
 * optimises (Gatys et al. 2017). With `like`, the luminance is shifted and scaled to the
 * mean and spread of `like`'s, so a style's tones sit where the content's do.
 */
export function greyLuminance(rgb: tf.Tensor4D, like?: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const luma = (t: tf.Tensor4D) => tf.slice(rgbToYiq(t), [0, 0, 0, 0], [-1, -1, -1, 1]);
    let y = luma(rgb);
    if (like) {
      const moments = (t: tf.Tensor) => tf.moments(t);
      const [own, target] = [moments(y), moments(luma(like))];
      const scale = tf.div(tf.sqrt(target.variance), tf.sqrt(tf.add(own.variance, 1e-6)));
      y = tf.add(tf.mul(tf.sub(y, own.mean), scale), target.mean);
    }
    return tf.clipByValue(tf.tile(y, [1, 1, 1, 3]), 0, 255) as tf.Tensor4D;
  });
}

/** Mean `[3]` and covariance `[3][3]` of the pixels of `rgb`, read back (nine numbers and three). */
async function colorStatistics(rgb: tf.Tensor4D): Promise<{ mean: number[]; cov: number[][] }> {
  const [meanT, covT] = tf.tidy(() => {
    const flat = tf.reshape(rgb, [-1, 3]);
    const mean = tf.mean(flat, 0);
    const centred = tf.sub(flat, mean);
    return [mean, tf.div(tf.matMul(centred, centred, true, false), flat.shape[0])];
  });
  const mean = Array.from(await meanT.data() as Float32Array);
  const cov = Array.from(await covT.data() as Float32Array);
  tf.dispose([meanT, covT]);
  return { mean, cov: [cov.slice(0, 3), cov.slice(3, 6), cov.slice(6, 9)] };
}

/**
 * `style` recoloured so its pixels' mean and covariance equal the content's:
 * x' = A(x − μₛ) + μ꜀ with A = L꜀ Lₛ⁻¹ (Cholesky factors of the covariances), clipped to 0..255.
 */
export async function matchColors(style: tf.Tensor4D, content: tf.Tensor4D): Promise<tf.Tensor4D> {
  const s = await colorStatistics(style);
  const c = await colorStatistics(content);
  const a = multiply(cholesky(c.cov), invert3(cholesky(s.cov)));
  return tf.tidy(() => {
    const [, h, w] = style.shape;
    const centred = tf.sub(tf.reshape(style, [h * w, 3]), tf.tensor1d(s.mean));
    const moved = tf.add(tf.matMul(centred, tf.tensor2d(a), false, true), tf.tensor1d(c.mean));
    return tf.clipByValue(tf.reshape(moved, [1, h, w, 3]), 0, 255) as tf.Tensor4D;
  });
}

/** Lower-triangular L with L·Lᵀ = m; a small ridge keeps flat (grey, single-colour) images factorable. */
function cholesky(m: number[][]): number[][] {
  const l = [[0, 0, 0], [0, 0, 0], [0, 0, 0]];
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j <= i; j++) {
      let sum = m[i][j] + (i === j ? 1e-3 : 0);
      for (let k = 0; k < j; k++) sum -= l[i][k] * l[j][k];
      l[i][j] = i === j ? Math.sqrt(Math.max(sum, 1e-6)) : sum / l[j][j];
    }
  }
  return l;
}

function multiply(a: number[][], b: number[][]): number[][] {
  return a.map((row) =>
    [0, 1, 2].map((j) => row[0] * b[0][j] + row[1] * b[1][j] + row[2] * b[2][j])
  );
}

function invert3(m: number[][]): number[][] {
  const [[a, b, c], [d, e, f], [g, h, i]] = m;
  const det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g);
  return [
    [(e * i - f * h) / det, (c * h - b * i) / det, (b * f - c * e) / det],
    [(f * g - d * i) / det, (a * i - c * g) / det, (c * d - a * f) / det],
    [(d * h - e * g) / det, (b * g - a * h) / det, (a * e - b * d) / det],
  ];
}
