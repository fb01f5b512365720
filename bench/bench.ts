/**
 * @module `deno task bench`: how fast Restyle evaluates, iterates and previews.
 *
 * For each network × backend × size: the median time of one loss + image-gradient
 * evaluation (the engine's loss for the network's default preset, with its
 * pooling and padding; VGG16 with random weights), with its range, its
 * convolution GFLOP (counted from the layer graph: `bench/_flops.ts`), GFLOP/s and
 * their share of a GEMM peak measured in the same run (a 2048² float32 MatMul
 * through ONNX Runtime, before and after the rows); the same evaluation in PyTorch
 * (`bench/reference/gatys.py`, the same pooling and padding), interleaved with
 * Restyle's (A B A B …) so that the machine's noise hits both, with medians and
 * ranges; tfjs's default gradients on the tfjs backends, interleaved too;
 * L-BFGS iterations per second of a real `stylize()` run; and, through the
 * HTTP API, the time to the first preview and the share of an iteration one
 * streamed preview costs. Sizes whose evaluation is estimated (from the
 * smaller size) to take longer than `--limit` seconds are skipped. Last, the
 * service: `/v1/health` latency (p50/p99) while a 512 px job computes in the
 * engine process, and a 50-job soak's tensor count and memory, with the CPU model.
 *
 * ```sh
 * deno task bench                                   # every network, wasm and onnx, 128/256/512
 * deno task bench --networks squeezenet --backends wasm,wasm:1,webgpu --sizes 256
 * deno task bench --json                            # one JSON object per row
 * deno task bench --optimizers                      # loss against evaluations (bench/optimizers.ts)
 * deno task bench --tiled                           # full-resolution stages (bench/tiled.ts)
 * deno task bench --service-only                    # health under load and the soak only
 * deno task bench --gpu                             # webgpu vs onnx vs wasm (bench/gpu.ts)
 * deno task bench --profile --networks googlenet    # ONNX Runtime's per-node times (bench/profile.ts)
 * ```
 *
 * The process exits once the results are written. What kept it alive for half an
 * hour after the service part was each job's time limit: `EngineWorker.ready()` left
 * an abort listener on the job's signal (an `AbortSignal.timeout`), and Deno keeps a
 * process alive until such a signal fires. That is fixed; the explicit exit stays,
 * so that no later handle (a keep-alive socket, a worker) can hold the bench.
 *
 * Backends: `wasm`, `webgpu`, `cpu`, `onnx` (the native CPU path through ONNX
 * Runtime); `wasm:N` runs wasm on N threads, `onnx:N` ONNX Runtime on N. Each
 * backend runs in its own child process. Every row records the CPU model and its
 * SIMD extensions (a ratio to PyTorch depends on them). Results go to
 * `bench/results/<timestamp>.json`.
 */
import { parseArgs } from "node:util";
import { NETWORK_IDS, type NetworkId } from "../src/net/network.ts";
import { measure, type MeasureOptions, type Row } from "./_measure.ts";
import { referenceAvailable } from "./_reference.ts";
import { type GemmPeak, gemmPeak } from "./_flops.ts";
import { gpuCheck } from "./gpu.ts";
import { benchProfile } from "./profile.ts";
import { cpuModel } from "./cpu.ts";
import { benchOptimizers } from "./optimizers.ts";
import { benchTiled } from "./tiled.ts";
import { measureService, type ServiceFigures, serviceReport } from "./_service.ts";

const USAGE = `usage: deno task bench [--networks a,b] [--backends a,b] [--sizes a,b] [--json]
  [--repeat N] [--iterations N] [--limit SECONDS] [--no-reference] [--no-server]
  [--no-service | --service-only]
       deno task bench --gpu [--sizes 512,1024] [--stylize 2048] [--help]
       deno task bench --profile [--networks a,b] [--size N] [--session JSON]
       deno task bench --optimizers [--help]
       deno task bench --tiled [--size N] [--final N] [--iterations N] [--budget MIB]`;

function list(value: string, flag: string): string[] {
  const items = value.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error(`--${flag}: expected a comma-separated list`);
  return items;
}

function positiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`--${flag}: expected a whole number ≥ 1, got "${value}"`);
  }
  return n;
}

function parseFlags(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      networks: { type: "string", default: NETWORK_IDS.join(",") },
      backends: { type: "string", default: "wasm,onnx" },
      sizes: { type: "string", default: "128,256,512" },
      json: { type: "boolean", default: false },
      repeat: { type: "string", default: "5" },
      iterations: { type: "string", default: "8" },
      limit: { type: "string", default: "60" },
      "no-reference": { type: "boolean", default: false },
      "no-server": { type: "boolean", default: false },
      "no-service": { type: "boolean", default: false },
      "service-only": { type: "boolean", default: false },
      child: { type: "string" }, // internal: JSON MeasureOptions for one backend
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const networks = list(values.networks, "networks");
  for (const n of networks) {
    if (!NETWORK_IDS.includes(n as NetworkId)) {
      throw new Error(
        `--networks: unknown network "${n}"; networks are: ${NETWORK_IDS.join(", ")}`,
      );
    }
  }
  const backends = list(values.backends, "backends");
  for (const b of backends) {
    if (!/^((wasm|onnx)(:\d+)?|webgpu|cpu)$/.test(b)) {
      throw new Error(
        `--backends: unknown backend "${b}"; use wasm, wasm:THREADS, onnx, onnx:THREADS, webgpu or cpu`,
      );
    }
  }
  return {
    ...values,
    networks: networks as NetworkId[],
    backends,
    sizes: list(values.sizes, "sizes").map((s) => positiveInt(s, "sizes")),
    repeat: positiveInt(values.repeat, "repeat"),
    iterations: positiveInt(values.iterations, "iterations"),
    limitS: positiveInt(values.limit, "limit"),
  };
}

/** Runs one backend's measurements in a child process (threads and backends are per process). */
async function runChild(options: MeasureOptions): Promise<Row[]> {
  const [name, threads] = options.backend.split(":");
  const env: Record<string, string> = { RESTYLE_BACKEND: name };
  if (threads) env[name === "onnx" ? "RESTYLE_ONNX_THREADS" : "RESTYLE_WASM_THREADS"] = threads;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--child",
      JSON.stringify({ ...options, backend: name }),
    ],
    env,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const rows: Row[] = [];
  let pending = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (!line.startsWith("ROW ")) continue;
      const row: Row = { ...JSON.parse(line.slice(4)), backend: options.backend };
      rows.push(row);
      console.error(
        `  ${row.network} ${row.backend} ${row.size}px: ${fmt(row.ms)} ms${range(row.msRange)}, ` +
          `${fmt(row.gflops, 1)} GFLOP/s; PyTorch ${fmt(row.referenceMs)} ms${
            range(row.referenceRange)
          }; default gradients ${fmt(row.defaultGradMs)} ms`,
      );
    }
  }
  const status = await child.status;
  if (!status.success) {
    console.error(`bench: the ${options.backend} child exited with ${status.code}`);
  }
  return rows;
}

/** Measures the GEMM peak in a child process (its own ONNX Runtime threads). */
async function runPeakChild(): Promise<GemmPeak> {
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(import.meta.url).pathname, "--peak"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) throw new Error(`GEMM peak: ${new TextDecoder().decode(stderr)}`);
  const peak: GemmPeak = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
  console.error(
    `  GEMM peak: ${peak.gflops.toFixed(0)} GFLOP/s (median ${peak.medianGflops.toFixed(0)})`,
  );
  return peak;
}

function fmt(value: number | null | undefined, digits = 0): string {
  return value == null || Number.isNaN(value) ? "–" : value.toFixed(digits);
}

function ratio(a: number | null | undefined, b: number | null | undefined, digits = 1): string {
  return a == null || b == null ? "–" : `${(a / b).toFixed(digits)}x`;
}

function range(r: [number, number] | undefined, digits = 0): string {
  return r ? ` [${r[0].toFixed(digits)}-${r[1].toFixed(digits)}]` : "";
}

function table(rows: Row[]): string {
  const header = [
    "network",
    "backend",
    "size",
    "eval ms [min-max]",
    "conv GFLOP",
    "GFLOP/s",
    "% peak",
    "PyTorch ms [min-max]",
    "vs PyTorch [rounds]",
    "default ms",
    "L-BFGS it/s",
    "1st preview ms",
    "preview cost",
  ];
  const body = rows.map((r) => [
    r.network,
    r.threads && r.threads > 1 ? `${r.backend} (${r.threads} thr)` : r.backend,
    String(r.size),
    fmt(r.ms) + range(r.msRange),
    fmt(r.gflop, 2),
    fmt(r.gflops, 1),
    r.peakShare === undefined ? "–" : `${(100 * r.peakShare).toFixed(1)} %`,
    fmt(r.referenceMs) + range(r.referenceRange),
    ratio(r.ms, r.referenceMs, 2) + range(r.ratioRange, 2),
    fmt(r.defaultGradMs),
    `${fmt(r.lbfgsItersPerS, 2)} (${fmt(r.lbfgsEvaluationsPerIteration, 1)} ev/it)`,
    fmt(r.firstPreviewMs),
    r.previewOverheadMs == null || r.iterationMs == null
      ? "–"
      : `${(100 * Math.max(0, r.previewOverheadMs) / r.iterationMs).toFixed(1)} % (encode ${
        (100 * r.previewEncodeMs! / r.iterationMs).toFixed(1)
      } %)`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join(" | ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("-|-"), ...body.map(line)].join("\n");
}

async function main() {
  if (Deno.args.includes("--tiled")) {
    await benchTiled(Deno.args.filter((arg) => arg !== "--tiled"));
    Deno.exit(0);
  }
  if (Deno.args.includes("--peak")) {
    console.log(JSON.stringify(await gemmPeak()));
    Deno.exit(0);
  }
  if (Deno.args.includes("--profile")) {
    await benchProfile(Deno.args.filter((arg) => arg !== "--profile"));
    Deno.exit(0);
  }
  if (Deno.args.includes("--gpu")) {
    Deno.exit(await gpuCheck(Deno.args.filter((arg) => arg !== "--gpu")));
  }
  if (Deno.args.includes("--optimizers")) {
    await benchOptimizers(Deno.args.filter((arg) => arg !== "--optimizers"));
    Deno.exit(0); // idle wasm pthread workers must not keep the process alive
  }
  const flags = parseFlags(Deno.args);
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  if (flags.child) {
    await measure(JSON.parse(flags.child), (row) => console.log(`ROW ${JSON.stringify(row)}`));
    Deno.exit(0); // idle wasm pthread workers or sockets must not keep the child alive
  }
  const cpu = await cpuModel();
  console.error(`bench: on ${cpu}`);
  const torch = flags["no-reference"] || flags["service-only"]
    ? { missing: "--no-reference" }
    : await referenceAvailable();
  if ("missing" in torch) console.error(`bench: no PyTorch reference: ${torch.missing}`);
  else console.error(`bench: PyTorch ${torch.torch}, interleaved with each evaluation`);
  const peaks: GemmPeak[] = [];
  const inputs = await Deno.makeTempDir({ prefix: "restyle-bench-inputs-" });
  const started = new Date();
  const rows: Row[] = [];
  let service: ServiceFigures | undefined;
  try {
    if (!flags["service-only"]) peaks.push(await runPeakChild());
    for (const backend of flags["service-only"] ? [] : flags.backends) {
      console.error(`bench: ${backend} …`);
      rows.push(
        ...await runChild({
          backend,
          networks: flags.networks,
          sizes: flags.sizes,
          repeat: flags.repeat,
          iterations: flags.iterations,
          limitS: flags.limitS,
          inputs,
          server: !flags["no-server"],
          reference: !("missing" in torch),
        }),
      );
    }
    if (!flags["service-only"]) peaks.push(await runPeakChild());
    if (!flags["no-service"]) {
      console.error("bench: the service (health under load, soak) …");
      service = await measureService();
    }
  } finally {
    await Deno.remove(inputs, { recursive: true }).catch(() => {});
  }
  // The higher of the two GEMM measurements (before and after): the smaller share.
  const peak = peaks.reduce<GemmPeak | undefined>(
    (best, p) => (!best || p.gflops > best.gflops ? p : best),
    undefined,
  );
  for (const row of rows) {
    delete row.reference;
    row.cpu = cpu;
    if (peak && row.gflops !== undefined) row.peakShare = row.gflops / peak.gflops;
  }
  if (flags.json) {
    for (const r of rows) {
      console.log(JSON.stringify({
        network: r.network,
        backend: r.backend,
        size: r.size,
        ms: r.ms,
        msRange: r.msRange,
        gflop: r.gflop,
        gflops: r.gflops,
        peakShare: r.peakShare,
        defaultGradMs: r.defaultGradMs,
        referenceMs: r.referenceMs,
        referenceRange: r.referenceRange,
        ratioRange: r.ratioRange,
        cpu: r.cpu,
      }));
    }
  } else {
    console.log(`CPU: ${cpu}`);
    if (peak) {
      console.log(
        `GEMM peak: ${peak.n}x${peak.n} float32 MatMul through ONNX Runtime on ${peak.threads} ` +
          `threads: ${peaks.map((p) => p.gflops.toFixed(0)).join(" and ")} GFLOP/s (before and ` +
          `after the rows; % peak is against the higher)`,
      );
    }
    console.log("");
    console.log(table(rows));
    const notes = rows.flatMap((r) =>
      r.notes.map((n) => `${r.network} ${r.backend} ${r.size}: ${n}`)
    );
    if (notes.length) console.log(`\n${notes.join("\n")}`);
    if (service) console.log(`\n${serviceReport(service)}`);
  }
  const dir = new URL("./results/", import.meta.url).pathname;
  await Deno.mkdir(dir, { recursive: true });
  const file = `${dir}${started.toISOString().replace(/[:.]/g, "-")}.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      {
        started: started.toISOString(),
        cores: navigator.hardwareConcurrency,
        cpu,
        flags,
        gemmPeaks: peaks,
        rows,
        service,
      },
      null,
      2,
    ),
  );
  console.error(`bench: wrote ${file}`);
  Deno.exit(0); // everything is written (see the module's comment)
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(`bench: ${(error as Error).message}\n${USAGE}`);
    Deno.exit(2);
  }
}
