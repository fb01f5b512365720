/**
 * @module A network's layer list as ONNX nodes: the forward pass, and its
 * gradient with respect to the image written out explicitly.
 *
 * Tensors are NCHW. The backward follows the rules of `src/ops/` (the network is
 * frozen, so only image-gradients are needed):
 * - convolution + ReLU: the output gradient masked where the ReLU was active,
 *   then the convolution's input-gradient: at stride 1 a `Conv` with the kernel
 *   flipped and transposed; strided, exactly `ConvTranspose` with the same
 *   weights (the rows a strided convolution never read restored by
 *   `output_padding`); reflect padding folds each mirrored band back;
 * - max pool: each output's gradient to the first maximum of its window, as
 *   `caffePool`'s fast path routes it: separably (window rows, then columns),
 *   each offset taking the gradient still unrouted where it holds the max;
 *   Caffe's ceil mode is the far-edge padding `caffePool` adds;
 * - average (or binomial `blur`) pool: each output's gradient spread over its
 *   window by its weights (a depthwise `ConvTranspose`), divided as Caffe
 *   divides an overhanging window;
 * - concat: `Split`; LRN: its closed-form derivative; a blob read by several
 *   layers sums their gradients.
 */
import type * as tf from "@tensorflow/tfjs";
import type { GraphLayer } from "../net/graph.ts";
import { INPUT, layersFor } from "../net/graph.ts";
import { reflects } from "../ops/conv.ts";
import { isBinomial, MAX_POOL_PAD, poolAxis, type PoolSpec, poolWindow } from "../ops/layer_op.ts";
import type { GraphBuilder } from "./builder.ts";

/** A value in the graph and its (static) NCHW shape. */
export interface Blob {
  name: string;
  shape: readonly number[];
}

/** What the backward of one layer needs from its forward. */
interface Step {
  layer: GraphLayer;
  inputs: Blob[];
  output: Blob;
  /** Values the layer's forward made for its backward. */
  saved: Record<string, string>;
}

/** The forward pass: every blob computed, and what the backward needs. */
export interface Forward {
  blobs: Map<string, Blob>;
  steps: Step[];
}

/** Rows (`axis` 2) or columns (3) `start` … `end - 1` of `x`, or `last` down to `first` (`reverse`). */
function band(
  g: GraphBuilder,
  x: string,
  axis: 2 | 3,
  start: number,
  end: number,
  reverse = false,
): string {
  const axes = g.int64([axis]);
  if (!reverse) return g.node("Slice", [x, g.int64([start]), g.int64([end]), axes]);
  // A step of -1 from `start` (the band's last pixel) to `end` (its first).
  const stop = end - 1 < 0 ? -(2 ** 62) : end - 1;
  return g.node("Slice", [x, g.int64([start]), g.int64([stop]), axes, g.int64([-1])]);
}

/**
 * Reflect-pads `axis` (length `n`) of `x` by `p`, as ONNX's and tfjs's `reflect` (the
 * edge is not repeated): the mirrored bands cut out and concatenated around it. ONNX
 * Runtime's reflect `Pad` copies element by element; these are block copies.
 */
function reflectPad(g: GraphBuilder, x: string, axis: 2 | 3, n: number, p: number): string {
  // Padded pixel p-1-k is input pixel k+1; padded pixel n+p+k is input pixel n-2-k.
  return g.node("Concat", [
    band(g, x, axis, p, 1, true),
    x,
    band(g, x, axis, n - 2, n - 1 - p, true),
  ], {
    axis,
  });
}

/**
 * The gradient of reflect-padding `axis` (unpadded length `n`) by `p`: the centre,
 * plus each band reversed onto the `p` pixels next to the edge it mirrors (the
 * edge itself is not repeated, as ONNX's and tfjs's `reflect`).
 */
function foldReflection(g: GraphBuilder, d: string, axis: 2 | 3, n: number, p: number): string {
  // Padded pixel p-1-k mirrors input pixel k+1; padded pixel n+p+k mirrors input n-2-k.
  const front = band(g, d, axis, p - 1, 0, true); // onto input pixels 1 … p
  const back = band(g, d, axis, n + 2 * p - 1, n + p, true); // onto n-1-p … n-2
  const centre = (from: number, to: number) => band(g, d, axis, from + p, to + p);
  if (n >= 2 * p + 2) {
    // Only the 2p pixels the bands land on are added to; the rest is cut out as it is.
    const pieces = [
      centre(0, 1),
      g.node("Add", [centre(1, p + 1), front]),
      ...(n - 1 - p > p + 1 ? [centre(p + 1, n - 1 - p)] : []),
      g.node("Add", [centre(n - 1 - p, n - 1), back]),
      centre(n - 1, n),
    ];
    return g.node("Concat", pieces, { axis });
  }
  const placed = (part: string, before: number, after: number) => {
    const pads = [0, 0, 0, 0, 0, 0, 0, 0];
    pads[axis] = before;
    pads[4 + axis] = after;
    return g.node("Pad", [part, g.int64(pads)]);
  };
  return g.node("Sum", [
    centre(0, n),
    placed(front, 1, n - 1 - p),
    placed(back, n - 1 - p, 1),
  ]);
}

/** Kernels as ONNX wants them, converted once per filter and layout. */
const kernelCache = new WeakMap<tf.Tensor, Map<string, Float32Array>>();

/**
 * `filter` (HWIO) as ONNX's `[out, in, kh, kw]` (`forward`), or as the kernel of
 * its input-gradient: flipped spatially, `[in, out, kh, kw]` (`backward`).
 */
function kernelData(filter: tf.Tensor4D, layout: "forward" | "backward"): Float32Array {
  let kernels = kernelCache.get(filter);
  if (!kernels) kernelCache.set(filter, kernels = new Map());
  let out = kernels.get(layout);
  if (!out) {
    const [kh, kw, cin, cout] = filter.shape;
    const hwio = filter.dataSync() as Float32Array;
    out = new Float32Array(hwio.length);
    const at = layout === "forward"
      ? (y: number, x: number, i: number, o: number) => ((o * cin + i) * kh + y) * kw + x
      : (y: number, x: number, i: number, o: number) =>
        ((i * cout + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - x);
    for (let y = 0; y < kh; y++) {
      for (let x = 0; x < kw; x++) {
        for (let i = 0; i < cin; i++) {
          for (let o = 0; o < cout; o++) {
            out[at(y, x, i, o)] = hwio[((y * kw + x) * cin + i) * cout + o];
          }
        }
      }
    }
    kernels.set(layout, out);
  }
  return out;
}

/**
 * `x` (NCHW, spatial size `from`), whose row/column `i` is input row/column
 * `i - offset`, cut and zero-padded to the input's spatial size `to`.
 */
function place(
  g: GraphBuilder,
  x: string,
  from: readonly [number, number],
  offset: number,
  to: readonly [number, number],
): string {
  const ends = [Math.min(from[0], offset + to[0]), Math.min(from[1], offset + to[1])];
  let out = x;
  if (offset > 0 || ends[0] < from[0] || ends[1] < from[1]) {
    out = g.node("Slice", [x, g.int64([offset, offset]), g.int64(ends), g.int64([2, 3])]);
  }
  const [h, w] = [ends[0] - offset, ends[1] - offset];
  if (h < to[0] || w < to[1]) {
    out = g.node("Pad", [out, g.int64([0, 0, 0, 0, 0, 0, to[0] - h, to[1] - w])]);
  }
  return out;
}

/**
 * Emits the layers of `graph` needed for `wanted`, reading `data` (the
 * preprocessed image, NCHW). With `backward`, keeps what {@linkcode backward} needs.
 */
export function forward(
  g: GraphBuilder,
  graph: readonly GraphLayer[],
  data: Blob,
  wanted: readonly string[],
  backward: boolean,
): Forward {
  const blobs = new Map<string, Blob>([[INPUT, data]]);
  const steps: Step[] = [];
  for (const layer of layersFor(graph, wanted)) {
    const op = layer.op;
    const inputs = layer.inputs.map((name) => blobs.get(name)!);
    const [x] = inputs;
    const [n, c, h, w] = x.shape;
    const saved: Record<string, string> = {};
    let output: Blob;
    switch (op.type) {
      case "conv": {
        const { filter, bias, stride: s, pad: p } = op.layer;
        const [kh, kw, , cout] = filter.shape;
        saved.weights = g.float(
          kernelData(filter, "forward"),
          [cout, c, kh, kw],
          `${layer.name}/kernel`,
        );
        const b = g.float(bias.dataSync() as Float32Array, [cout], `${layer.name}/bias`);
        // Reflect padding: the image's mirror image instead of zeros around it.
        const reflect = reflects(op.layer, h, w);
        const input = reflect ? reflectPad(g, reflectPad(g, x.name, 2, h, p), 3, w, p) : x.name;
        const q = reflect ? 0 : p;
        const conv = g.node("Conv", [input, saved.weights, b], {
          kernel_shape: [kh, kw],
          strides: [s, s],
          pads: [q, q, q, q],
        }, `${layer.name}/conv`);
        output = {
          name: g.node("Relu", [conv], {}, layer.name),
          shape: [
            n,
            cout,
            Math.floor((h + 2 * p - kh) / s) + 1,
            Math.floor((w + 2 * p - kw) / s) + 1,
          ],
        };
        break;
      }
      case "pool": {
        const { kernel: k, stride: s, pad: p, kind } = op.spec;
        const [rows, cols] = [poolAxis(h, op.spec, !!op.floor), poolAxis(w, op.spec, !!op.floor)];
        let input = x.name;
        if (rows.used < h || cols.used < w) {
          input = g.node("Slice", [
            input,
            g.int64([0, 0]),
            g.int64([rows.used, cols.used]),
            g.int64([2, 3]),
          ]);
        }
        if (p + rows.extra + cols.extra > 0) {
          const pads = g.int64([0, 0, p, p, 0, 0, p + rows.extra, p + cols.extra]);
          input = g.node("Pad", [input, pads, g.scalar(kind === "max" ? MAX_POOL_PAD : 0)]);
        }
        const attrs = { kernel_shape: [k, k], strides: [s, s] };
        const shape = [n, c, rows.out, cols.out];
        if (kind === "max" && !backward) {
          output = { name: g.node("MaxPool", [input], attrs, layer.name), shape };
        } else if (kind === "max") {
          // Separable, as `caffePool`'s fast path: a row max over each window row, then a
          // column max of k row maxima; the backward routes through both in turn.
          saved.padded = input;
          saved.rowMax = g.node("MaxPool", [input], { kernel_shape: [1, k], strides: [1, s] });
          output = {
            name: g.node(
              "MaxPool",
              [saved.rowMax],
              { kernel_shape: [k, 1], strides: [s, 1] },
              layer.name,
            ),
            shape,
          };
        } else {
          let y = !isBinomial(op.spec)
            ? g.node("AveragePool", [input], attrs, `${layer.name}/sum`)
            : g.node("Conv", [input, g.float(tile(poolWindow(op.spec), c), [c, 1, k, k])], {
              ...attrs,
              group: c,
            }, `${layer.name}/sum`);
          if (rows.extra + cols.extra > 0) {
            saved.inside = g.float(insideFraction(rows, cols, op.spec), [1, 1, rows.out, cols.out]);
            y = g.node("Div", [y, saved.inside]);
          }
          output = { name: y, shape };
        }
        break;
      }
      case "concat": {
        const channels = inputs.reduce((sum, b) => sum + b.shape[1], 0);
        output = {
          name: g.node("Concat", inputs.map((b) => b.name), { axis: 1 }, layer.name),
          shape: [n, channels, h, w],
        };
        break;
      }
      case "lrn": {
        // S = bias + alpha/size · Σ x² over `size` neighbouring channels; y = x · S^-beta.
        const sum = windowSum(g, g.node("Mul", [x.name, x.name]), x.shape, op.size);
        saved.s = g.node("Add", [
          g.node("Mul", [sum, g.scalar(op.alpha / op.size)]),
          g.scalar(op.bias),
        ]);
        // S^-0.75 (Caffe's and GoogLeNet's beta) as 1/(√S·√√S): Pow is a scalar loop.
        const root = op.beta === 0.75 ? g.node("Sqrt", [saved.s]) : "";
        saved.sPow = op.beta === 0.75
          ? g.node("Reciprocal", [g.node("Mul", [root, g.node("Sqrt", [root])])])
          : g.node("Pow", [saved.s, g.scalar(-op.beta)]);
        output = { name: g.node("Mul", [x.name, saved.sPow], {}, layer.name), shape: x.shape };
        break;
      }
    }
    blobs.set(layer.name, output);
    steps.push({ layer, inputs, output, saved });
  }
  return { blobs, steps };
}

/** `values` repeated `times` times (one copy per channel of a depthwise kernel). */
function tile(values: Float32Array, times: number): Float32Array {
  const out = new Float32Array(values.length * times);
  for (let i = 0; i < times; i++) out.set(values, i * values.length);
  return out;
}

/** Per output: the weight of its window inside the (padded) input, as Caffe divides an overhanging window. */
function insideFraction(
  rows: ReturnType<typeof poolAxis>,
  cols: ReturnType<typeof poolAxis>,
  spec: PoolSpec,
): Float32Array {
  const { kernel: k, stride: s, pad: p } = spec;
  const weights = poolWindow(spec);
  const out = new Float32Array(rows.out * cols.out);
  for (let i = 0; i < rows.out; i++) {
    for (let j = 0; j < cols.out; j++) {
      let sum = 0;
      for (let a = 0; a < k; a++) {
        for (let b = 0; b < k; b++) {
          const inside = i * s + a < rows.used + 2 * p && j * s + b < cols.used + 2 * p;
          if (inside) sum += weights[a * k + b];
        }
      }
      out[i * cols.out + j] = sum;
    }
  }
  return out;
}

/**
 * The input-gradient of a valid max pool along `axis` of `x` (window `k`, stride
 * `s`; pooled `y`, output gradient `dy`): each output's gradient goes to the
 * first maximum of its window, as `src/ops/pool.ts` routes it.
 *
 * Window offsets are scanned in order; offset i reads `x[o·s + i]` (a strided
 * slice) and takes the gradient still unrouted where it holds the max (the last
 * offset takes whatever is left). Offset i's share lands on phase `i mod s`,
 * shifted by `floor(i / s)` outputs; the s phase planes are interleaved back.
 */
function routeToFirstMaxima(
  g: GraphBuilder,
  x: string,
  shape: readonly number[],
  y: string,
  dy: string,
  k: number,
  s: number,
  axis: 2 | 3,
): string {
  const length = shape[axis];
  const out = Math.floor((length - k) / s) + 1;
  const reach = Math.floor((k - 1) / s);
  const axes = g.int64([axis]);
  const zero = g.scalar(0);
  const parts: string[][] = Array.from({ length: s }, () => []);
  let rest = dy;
  for (let i = 0; i < k; i++) {
    const shift = Math.floor(i / s);
    let routed = rest;
    if (i < k - 1) {
      const window = g.node("Slice", [
        x,
        g.int64([i]),
        g.int64([i + (out - 1) * s + 1]),
        axes,
        g.int64([s]),
      ]);
      const hit = g.node("Equal", [window, y]);
      routed = g.node("Where", [hit, rest, zero]);
      rest = g.node("Where", [hit, zero, rest]);
    }
    if (reach > 0) {
      const pads = [0, 0, 0, 0, 0, 0, 0, 0];
      pads[axis] = shift;
      pads[4 + axis] = reach - shift;
      if (shift > 0 || reach - shift > 0) routed = g.node("Pad", [routed, g.int64(pads)]);
    }
    parts[i % s].push(routed);
  }
  const planeShape = [...shape];
  planeShape[axis] = out + reach;
  const planes = parts.map((p) =>
    p.length === 0
      ? g.node("ConstantOfShape", [g.int64(planeShape)])
      : p.length === 1
      ? p[0]
      : g.node("Sum", p)
  );
  let joined = planes[0];
  if (s > 1) {
    // Interleave: [.., rows, ..] planes stacked after `axis`, then merged.
    const stacked = g.node(
      "Concat",
      planes.map((p) => g.node("Unsqueeze", [p, g.int64([axis + 1])])),
      {
        axis: axis + 1,
      },
    );
    const merged = [...planeShape];
    merged[axis] = (out + reach) * s;
    joined = g.node("Reshape", [stacked, g.int64(merged)]);
  }
  const joinedLength = s > 1 ? (out + reach) * s : out + reach;
  if (joinedLength > length) {
    return g.node("Slice", [joined, g.int64([0]), g.int64([length]), axes]);
  }
  if (joinedLength < length) {
    const pads = [0, 0, 0, 0, 0, 0, 0, 0];
    pads[4 + axis] = length - joinedLength;
    return g.node("Pad", [joined, g.int64(pads)]);
  }
  return joined;
}

/**
 * Σ over `size` neighbouring channels (zero beyond the ends): a 1×1 convolution whose
 * `[C, C]` kernel is 1 on the band |i - j| ≤ (size - 1)/2, so it runs on the blocked
 * (NCHWc) kernels beside the convolutions around it. (A `[size, 1]` Conv over
 * `[1, 1, C, H·W]` was one single-channel convolution, which ONNX Runtime ran at a
 * small fraction of its speed: half of GoogLeNet's evaluation.)
 */
function windowSum(
  g: GraphBuilder,
  x: string,
  [, c]: readonly number[],
  size: number,
): string {
  const half = (size - 1) / 2;
  const band = new Float32Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = Math.max(0, i - half); j <= Math.min(c - 1, i + half); j++) band[i * c + j] = 1;
  }
  return g.node("Conv", [x, g.float(band, [c, c, 1, 1], "lrn/band")], { kernel_shape: [1, 1] });
}

/**
 * Emits the gradient of the loss with respect to `data`, given the loss's
 * gradients at some blobs (`seeds`: blob -> gradient values to sum). Returns
 * the input gradient's name (NCHW).
 */
export function backward(g: GraphBuilder, fwd: Forward, seeds: Map<string, string[]>): string {
  const grads = new Map<string, string[]>();
  for (const [blob, values] of seeds) grads.set(blob, [...values]);
  const add = (blob: string, grad: string) => {
    const list = grads.get(blob) ?? [];
    list.push(grad);
    grads.set(blob, list);
  };
  const take = (blob: string): string | undefined => {
    const list = grads.get(blob);
    if (!list || list.length === 0) return undefined;
    return list.length === 1 ? list[0] : g.node("Sum", list, {}, `d:${blob}`);
  };
  for (let i = fwd.steps.length - 1; i >= 0; i--) {
    const { layer, inputs, output, saved } = fwd.steps[i];
    const dy = take(layer.name);
    if (!dy) continue;
    const [x] = inputs;
    const [, c, h, w] = x.shape;
    const op = layer.op;
    switch (op.type) {
      case "conv": {
        const { filter, stride: s, pad: p } = op.layer;
        const [kh, kw] = filter.shape;
        const [, , oh, ow] = output.shape;
        const active = g.node("Greater", [output.name, g.scalar(0)]);
        const dz = g.node("Where", [active, dy, g.scalar(0)]);
        // At stride 1, a correlation with the flipped, transposed kernel: a plain Conv,
        // which runs on ONNX Runtime's blocked (NCHWc) kernels as ConvTranspose does not.
        const flipped = () =>
          g.float(
            kernelData(filter, "backward"),
            [c, output.shape[1], kh, kw],
            `${layer.name}/flipped`,
          );
        if (reflects(op.layer, h, w)) {
          // The gradient at the padded input, each reflected band folded back onto its source.
          const [ph, pw] = [h + 2 * p, w + 2 * p];
          const dPadded = s === 1
            // A full correlation: (oh + kh - 1) = ph rows.
            ? g.node("Conv", [dz, flipped()], {
              kernel_shape: [kh, kw],
              pads: [kh - 1, kw - 1, kh - 1, kw - 1],
            })
            : g.node("ConvTranspose", [dz, saved.weights], {
              kernel_shape: [kh, kw],
              strides: [s, s],
              output_padding: [ph - ((oh - 1) * s + kh), pw - ((ow - 1) * s + kw)],
            });
          add(layer.inputs[0], foldReflection(g, foldReflection(g, dPadded, 3, w, p), 2, h, p));
          break;
        }
        if (s === 1) {
          const q = [kh - 1 - p, kw - 1 - p];
          const kernel = flipped();
          add(
            layer.inputs[0],
            g.node(
              "Conv",
              [dz, kernel],
              { kernel_shape: [kh, kw], pads: [q[0], q[1], q[0], q[1]] },
              `d:${layer.inputs[0]}`,
            ),
          );
          break;
        }
        add(
          layer.inputs[0],
          g.node("ConvTranspose", [dz, saved.weights], {
            kernel_shape: [kh, kw],
            strides: [s, s],
            pads: [p, p, p, p],
            output_padding: [h - ((oh - 1) * s + kh - 2 * p), w - ((ow - 1) * s + kw - 2 * p)],
          }, `d:${layer.inputs[0]}`),
        );
        break;
      }
      case "pool": {
        const { kernel: k, stride: s, pad: p } = op.spec;
        const [rows, cols] = [poolAxis(h, op.spec, !!op.floor), poolAxis(w, op.spec, !!op.floor)];
        const [n] = x.shape;
        let padded: string;
        if (op.spec.kind === "max") {
          // Down the rows: each output's gradient to the first window row holding its max;
          // then along each row, to the first column holding that row's max.
          const rowMaxShape = [n, c, rows.padded, cols.out];
          const dRowMax = routeToFirstMaxima(
            g,
            saved.rowMax,
            rowMaxShape,
            output.name,
            dy,
            k,
            s,
            2,
          );
          padded = routeToFirstMaxima(
            g,
            saved.padded,
            [n, c, rows.padded, cols.padded],
            saved.rowMax,
            dRowMax,
            k,
            s,
            3,
          );
        } else {
          const dyc = saved.inside ? g.node("Div", [dy, saved.inside]) : dy;
          const [, , ho, wo] = output.shape;
          // The gradient repeated s×s (nearest): a block copy, on blocked kernels too.
          const repeated = () =>
            g.node("Resize", [dyc, "", g.float([1, 1, s, s], [4])], {
              mode: "nearest",
              coordinate_transformation_mode: "asymmetric",
              nearest_mode: "floor",
            });
          if (isBinomial(op.spec)) {
            // Spreading each output's gradient over its window is a full convolution of the
            // gradient, s - 1 zeros after every row and column, with the window. The binomial
            // window is the 2×2 box convolved with itself, and the zero-filled gradient
            // convolved with the box is the gradient repeated 2×2: so it is the repeated
            // gradient summed over 2×2 windows, /16 (a depthwise Conv).
            padded = g.node(
              "Conv",
              [
                repeated(),
                g.float(new Float32Array(4 * c).fill(1 / 16), [c, 1, 2, 2]),
              ],
              { kernel_shape: [2, 2], group: c, pads: [1, 1, 1, 1] },
              `d:${layer.name}/spread`,
            );
          } else if (k >= s) {
            // The gradient with s - 1 zeros after every row and column (repeated, then masked),
            // correlated with the flipped window (a depthwise Conv; a grouped ConvTranspose
            // is one small GEMM per channel).
            let up = dyc;
            if (s > 1) {
              const mask = new Float32Array(ho * s * wo * s);
              for (let i = 0; i < ho * s; i += s) {
                for (let j = 0; j < wo * s; j += s) mask[i * wo * s + j] = 1;
              }
              up = g.node("Mul", [repeated(), g.float(mask, [1, 1, ho * s, wo * s])]);
            }
            const flippedWindow = poolWindow(op.spec).reverse();
            padded = g.node("Conv", [up, g.float(tile(flippedWindow, c), [c, 1, k, k])], {
              kernel_shape: [k, k],
              group: c,
              pads: [k - 1, k - 1, k - s, k - s],
            }, `d:${layer.name}/spread`);
          } else {
            const spread = g.float(tile(poolWindow(op.spec), c), [c, 1, k, k]);
            padded = g.node("ConvTranspose", [dyc, spread], {
              kernel_shape: [k, k],
              strides: [s, s],
              group: c,
            });
          }
          const size = [(rows.out - 1) * s + k, (cols.out - 1) * s + k] as const;
          padded = place(g, padded, size, 0, [rows.padded, cols.padded]);
        }
        add(layer.inputs[0], place(g, padded, [rows.padded, cols.padded], p, [h, w]));
        break;
      }
      case "concat": {
        const parts = g.nodes(
          "Split",
          [dy, g.int64(inputs.map((b) => b.shape[1]))],
          { axis: 1 },
          inputs.length,
        );
        layer.inputs.forEach((name, j) => add(name, parts[j]));
        break;
      }
      case "lrn": {
        // dx = dy·S^-beta - 2·beta·alpha/size · x · Σ_window(dy · x · S^-beta / S).
        const t = g.node("Div", [
          g.node("Mul", [g.node("Mul", [dy, x.name]), saved.sPow]),
          saved.s,
        ]);
        const spread = g.node("Mul", [
          g.node("Mul", [windowSum(g, t, x.shape, op.size), x.name]),
          g.scalar((2 * op.beta * op.alpha) / op.size),
        ]);
        add(layer.inputs[0], g.node("Sub", [g.node("Mul", [dy, saved.sPow]), spread]));
        break;
      }
    }
  }
  const d = take(INPUT);
  if (!d) throw new Error("the loss does not depend on the image");
  return d;
}
