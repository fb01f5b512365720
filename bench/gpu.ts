/**
 * @module `deno task bench --gpu`: WebGPU against ONNX Runtime and wasm on whatever
 * machine it runs, in one command that stays within about five minutes.
 *
 * For each backend (its own child process, `RESTYLE_BACKEND` set, so the server's
 * engine process runs on it too): one loss + image-gradient evaluation of
 * SqueezeNet's default loss at each size (the first, which compiles, and the median
 * of three after it), its loss and gradient against the reference backend's (wasm:
 * tfjs, which the tests hold the others to), the first preview of a job through the
 * HTTP API, and a one-stage stylize at `--stylize` px. Parity is checked on the
 * same pseudo-random images everywhere: relative loss difference ≤ 1e-3 and
 * relative L2 gradient error ≤ 1e-2 (float32 on different kernels), or it exits 1.
 * A backend that cannot start here (no adapter) is reported and skipped.
 *
 * ```sh
 * deno task bench --gpu                         # 512 and 1024 px, a 2048 px stylize
 * deno task bench --gpu --sizes 64 --preview-size 64 --stylize 128   # CI's software adapter
 * ```
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { type BackendName, initBackend } from "../src/backend.ts";
import { stylize } from "../src/engine/stylize.ts";
import { encodePng } from "../src/image/codec.ts";
import { makeObjective } from "./_objective.ts";
import { benchImages, openNetwork, squareImage } from "./_measure.ts";
import { benchServer, median, stylizeOverHttp } from "./_server.ts";
import { cpuModel } from "./cpu.ts";

const USAGE = `usage: deno task bench --gpu [--backends webgpu,onnx,wasm] [--sizes 512,1024]
  [--preview-size 512] [--stylize 2048] [--iterations 3] [--limit SECONDS] [--json]`;

/** Relative loss difference and relative L2 gradient error allowed against the reference. */
export const LOSS_TOLERANCE = 1e-3;
export const GRAD_TOLERANCE = 1e-2;

/** What one backend's child measured. */
export interface GpuRow {
  backend: string;
  /** Why it did not run, when it did not start here. */
  unavailable?: string;
  /** Failure after it started. */
  error?: string;
  adapter?: string;
  softwareAdapter?: boolean;
  evaluations: Array<{
    size: number;
    firstMs: number;
    ms: number;
    loss: number;
    /** Relative to the reference backend's, filled in by the parent. */
    lossError?: number;
    gradError?: number;
  }>;
  /** Cold first preview of a 2-iteration job through the HTTP API (engine ready, job new). */
  firstPreviewMs?: number;
  stylize?: { size: number; iterations: number; seconds: number } | { skipped: string };
}

interface ChildSpec {
  backend: BackendName;
  sizes: number[];
  previewSize: number;
  stylize: number;
  iterations: number;
  /** Epoch ms by which the child should be done; the stylize is skipped beyond it. */
  deadline: number;
  out: string;
}

function ints(value: string, flag: string): number[] {
  const items = value.split(",").map((s) => Number(s.trim()));
  if (!items.length || items.some((n) => !Number.isInteger(n) || n < 16)) {
    throw new Error(`--${flag}: expected whole numbers ≥ 16, got "${value}"`);
  }
  return items;
}

/** Runs the check; resolves to the exit code (1 when parity fails or a backend breaks). */
export async function gpuCheck(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      backends: { type: "string", default: "webgpu,onnx,wasm" },
      sizes: { type: "string", default: "512,1024" },
      "preview-size": { type: "string", default: "512" },
      stylize: { type: "string", default: "2048" },
      iterations: { type: "string", default: "3" },
      limit: { type: "string", default: "300" },
      json: { type: "boolean", default: false },
      child: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.child) {
    await child(JSON.parse(values.child));
    return 0;
  }
  const backends = values.backends.split(",").map((b) => b.trim()) as BackendName[];
  for (const b of backends) {
    if (!["webgpu", "onnx", "wasm", "cpu"].includes(b)) {
      throw new Error(`--backends: unknown backend "${b}"; use webgpu, onnx, wasm or cpu`);
    }
  }
  const started = Date.now();
  const limitMs = Number(values.limit) * 1000;
  const out = await Deno.makeTempDir({ prefix: "restyle-gpu-check-" });
  const cpu = await cpuModel();
  console.error(`bench --gpu: on ${cpu}`);
  const rows: GpuRow[] = [];
  try {
    for (const [i, backend] of backends.entries()) {
      // Each backend gets an even share of the time left.
      const share = (limitMs - (Date.now() - started)) / (backends.length - i);
      console.error(`bench --gpu: ${backend} …`);
      rows.push(
        await runChild({
          backend,
          sizes: ints(values.sizes, "sizes"),
          previewSize: ints(values["preview-size"], "preview-size")[0],
          stylize: ints(values.stylize, "stylize")[0],
          iterations: Number(values.iterations),
          deadline: Date.now() + share,
          out,
        }),
      );
    }
    const failed = await compare(rows, out);
    if (values.json) {
      for (const row of rows) console.log(JSON.stringify({ ...row, cpu }));
    } else {
      console.log(report(rows, cpu, Date.now() - started));
    }
    if (failed.length) console.error(`bench --gpu: FAILED: ${failed.join("; ")}`);
    return failed.length ? 1 : 0;
  } finally {
    await Deno.remove(out, { recursive: true }).catch(() => {});
  }
}

async function runChild(spec: ChildSpec): Promise<GpuRow> {
  const { code, stdout } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./bench.ts", import.meta.url).pathname,
      "--gpu",
      "--child",
      JSON.stringify(spec),
    ],
    env: { RESTYLE_BACKEND: spec.backend },
    stdout: "piped",
    stderr: "inherit",
  }).output();
  const line = new TextDecoder().decode(stdout).trim().split("\n").findLast((l) =>
    l.startsWith("GPUROW ")
  );
  if (!line) {
    return { backend: spec.backend, error: `its process exited with ${code}`, evaluations: [] };
  }
  return JSON.parse(line.slice(7));
}

/** Loss and gradient of every backend against the reference's (wasm, else the first that ran). */
async function compare(rows: GpuRow[], out: string): Promise<string[]> {
  const failed: string[] = [];
  const ran = rows.filter((r) => !r.unavailable && !r.error);
  const reference = ran.find((r) => r.backend === "wasm") ?? ran[0];
  for (const row of rows) {
    if (row.error) failed.push(`${row.backend}: ${row.error}`);
    if (!reference || row === reference || row.unavailable || row.error) continue;
    for (const e of row.evaluations) {
      const ref = reference.evaluations.find((r) => r.size === e.size);
      if (!ref) continue;
      const [a, b] = await Promise.all(
        [row.backend, reference.backend].map(async (name) =>
          new Float32Array((await Deno.readFile(`${out}/${name}-${e.size}.f32`)).buffer)
        ),
      );
      let diff = 0, norm = 0;
      for (let i = 0; i < b.length; i++) {
        diff += (a[i] - b[i]) ** 2;
        norm += b[i] ** 2;
      }
      e.lossError = Math.abs(e.loss - ref.loss) / Math.abs(ref.loss);
      e.gradError = Math.sqrt(diff / norm);
      if (!(e.lossError <= LOSS_TOLERANCE) || !(e.gradError <= GRAD_TOLERANCE)) {
        failed.push(
          `${row.backend} at ${e.size} px: loss ${e.lossError.toExponential(1)}, gradient ` +
            `${e.gradError.toExponential(1)} from ${reference.backend}'s`,
        );
      }
    }
  }
  return failed;
}

function report(rows: GpuRow[], cpu: string, ms: number): string {
  const lines = [`GPU check on ${cpu}, ${(ms / 1000).toFixed(0)} s in all`, ""];
  const fmt = (n: number | undefined, digits = 0) => n === undefined ? "–" : n.toFixed(digits);
  const exp = (n: number | undefined) => n === undefined ? "–" : n.toExponential(1);
  const header = [
    "backend",
    "adapter",
    "size",
    "first ms",
    "eval ms",
    "loss",
    "loss err",
    "grad err",
    "1st preview ms",
    "stylize",
  ];
  const body: string[][] = [];
  for (const r of rows) {
    if (r.unavailable || r.error) {
      body.push([r.backend, r.unavailable ? `unavailable: ${r.unavailable}` : `error: ${r.error}`]);
      continue;
    }
    const software = r.backend === "webgpu" && r.softwareAdapter;
    const adapter = `${r.adapter}${software ? " (software)" : ""}`;
    const stylized = !r.stylize
      ? "–"
      : "skipped" in r.stylize
      ? `skipped: ${r.stylize.skipped}`
      : `${r.stylize.size} px, ${r.stylize.iterations} it: ${r.stylize.seconds.toFixed(1)} s`;
    r.evaluations.forEach((e, i) =>
      body.push([
        i ? "" : r.backend,
        i ? "" : adapter,
        String(e.size),
        fmt(e.firstMs),
        fmt(e.ms),
        e.loss.toPrecision(6),
        exp(e.lossError),
        exp(e.gradError),
        i ? "" : fmt(r.firstPreviewMs),
        i ? "" : stylized,
      ])
    );
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? "").padEnd(widths[i])).join(" | ");
  lines.push(line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...body.map(line));
  lines.push(
    "",
    `loss err, grad err: relative to ${
      rows.some((r) => r.backend === "wasm" && !r.unavailable) ? "wasm" : "the first backend"
    } (limits ${LOSS_TOLERANCE}, ${GRAD_TOLERANCE}); first ms includes compiling`,
  );
  return lines.join("\n");
}

/** One backend, in its own process: prints a `GPUROW` line. */
async function child(spec: ChildSpec): Promise<void> {
  const row: GpuRow = { backend: spec.backend, evaluations: [] };
  const emit = () => console.log(`GPUROW ${JSON.stringify(row)}`);
  try {
    const info = await initBackend(spec.backend);
    row.adapter = info.adapter;
    row.softwareAdapter = info.softwareAdapter;
  } catch (error) {
    row.unavailable = (error as Error).message;
    emit();
    return;
  }
  try {
    const network = await openNetwork("squeezenet");
    for (const size of spec.sizes) {
      const objective = await makeObjective(network, size, undefined, {
        native: spec.backend === "onnx",
      });
      try {
        const once = async () => {
          const start = performance.now();
          const { value, grad } = objective.evaluate();
          const g = await grad.data() as Float32Array;
          const loss = (await value.data())[0];
          tf.dispose([value, grad]);
          return { ms: performance.now() - start, loss, g };
        };
        const first = await once();
        const times: number[] = [];
        for (let i = 0; i < 3; i++) times.push((await once()).ms);
        await Deno.writeFile(
          `${spec.out}/${spec.backend}-${size}.f32`,
          new Uint8Array(first.g.buffer, first.g.byteOffset, first.g.byteLength),
        );
        row.evaluations.push({ size, firstMs: first.ms, ms: median(times), loss: first.loss });
        console.error(
          `  ${spec.backend} ${size} px: first ${first.ms.toFixed(0)} ms, then ${
            median(times).toFixed(0)
          } ms`,
        );
      } finally {
        objective.dispose();
      }
    }
    const images = await benchImages();
    const server = await benchServer();
    try {
      const [content, style] = [images.content, images.style].map((im) =>
        encodePng(squareImage(im, spec.previewSize))
      );
      const first = await stylizeOverHttp(server.url, await content, await style, {
        network: "squeezenet",
        maxSize: spec.previewSize,
        iterations: 2,
        previewEvery: 1,
      });
      row.firstPreviewMs = first.firstPreviewMs;
      console.error(`  ${spec.backend}: first preview ${first.firstPreviewMs.toFixed(0)} ms`);
    } finally {
      const timeout = new Promise((resolve) => setTimeout(resolve, 5000));
      await Promise.race([server.close(), timeout]);
    }
    // Estimated from the largest evaluation: (iterations · ~1.5 + targets) evaluations.
    const last = row.evaluations.at(-1)!;
    const estimate = last.ms * (spec.stylize / last.size) ** 2 * (spec.iterations * 1.5 + 3);
    if (Date.now() + estimate > spec.deadline) {
      row.stylize = { skipped: `estimated ${(estimate / 1000).toFixed(0)} s, past the limit` };
    } else {
      const start = performance.now();
      for await (
        const _ of stylize({
          content: squareImage(images.content, spec.stylize),
          styles: [squareImage(images.style, spec.stylize)],
          network,
          options: {
            network: "squeezenet",
            maxSize: spec.stylize,
            scales: [spec.stylize],
            iterations: spec.iterations,
            previewEvery: spec.iterations,
            seed: 7,
          },
        })
      ) {
        // the final step's image is the result; its encoding is not timed
      }
      row.stylize = {
        size: spec.stylize,
        iterations: spec.iterations,
        seconds: (performance.now() - start) / 1000,
      };
      console.error(
        `  ${spec.backend}: ${spec.stylize} px stylize ${row.stylize.seconds.toFixed(1)} s`,
      );
    }
  } catch (error) {
    row.error = (error as Error).message.split("\n")[0];
  }
  emit();
}
