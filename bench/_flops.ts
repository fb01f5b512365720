/**
 * @module What one evaluation computes, counted from the layer graph, and what the
 * machine can compute: a float32 matrix product's rate through ONNX Runtime.
 *
 * The count is the networks' convolutions only (2·kh·kw·cin·cout per output
 * position), forward and image-gradient (the same count again: the input-gradient
 * of a convolution is a convolution of the same size), over the layers the loss
 * needs (`layersFor`: nothing past the deepest loss layer). Pooling, LRN, the Gram
 * matrices and the losses are left out, so a rate from it understates the work
 * done, never overstates it.
 */
import type { GraphLayer } from "../src/net/graph.ts";
import { walkGraph } from "../src/net/graph.ts";
import { opOutputSize } from "../src/ops/layer_op.ts";
import { GraphBuilder } from "../src/onnx/builder.ts";
import { loadOrt, onnxThreads, OrtSession } from "../src/onnx/runtime.ts";
import { median } from "./_server.ts";

/** Convolution GFLOP of one loss + image-gradient evaluation at `size` (square) px. */
export function convGflop(
  graph: readonly GraphLayer[],
  size: number,
  layers: readonly string[],
): number {
  let flop = 0;
  walkGraph(graph, layers, [size, size] as readonly [number, number], (layer, inputs) => {
    const out = opOutputSize(layer.op, inputs);
    if (layer.op.type === "conv") {
      const [kh, kw, cin, cout] = layer.op.layer.filter.shape;
      flop += 2 * kh * kw * cin * cout * out[0] * out[1];
    }
    return out;
  });
  return (2 * flop) / 1e9; // forward + input-gradient
}

/** A float32 GEMM's rate: the best and the median of `repeat` timed products. */
export interface GemmPeak {
  /** Side of the square matrices. */
  n: number;
  /** GFLOP/s of the fastest product (the peak rows are measured against). */
  gflops: number;
  /** GFLOP/s of the median product. */
  medianGflops: number;
  threads: number;
}

/**
 * Times an `n`×`n` float32 matrix product (`MatMul`) through ONNX Runtime on the
 * threads the onnx backend uses: the machine's practical peak for this kind of work.
 */
export async function gemmPeak(n = 2048, repeat = 7): Promise<GemmPeak> {
  await loadOrt();
  const g = new GraphBuilder();
  const a = g.input("a", [n, n]);
  const b = new Float32Array(n * n);
  for (let i = 0; i < b.length; i++) b[i] = ((i * 7919) % 1000) / 1000 - 0.5;
  g.output(g.node("MatMul", [a, g.float(b, [n, n], "b")]), "c", [n, n]);
  const session = new OrtSession(g.encode("gemm-peak"));
  try {
    const input = { a: { data: b.slice().reverse(), dims: [n, n] } };
    session.run(input); // warm-up: threads started, buffers allocated
    const times: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const start = performance.now();
      session.run(input);
      times.push(performance.now() - start);
    }
    const gflop = (2 * n ** 3) / 1e9;
    return {
      n,
      gflops: gflop / (Math.min(...times) / 1000),
      medianGflops: gflop / (median(times) / 1000),
      threads: onnxThreads(),
    };
  } finally {
    session.dispose();
  }
}
