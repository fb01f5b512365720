/**
 * @module Choosing the backend: WebGPU on a real GPU, else WASM, else CPU.
 *
 * WASM runs with SIMD and, where the machine has more than one core, with one
 * thread per core (up to 8; `RESTYLE_WASM_THREADS=1` keeps it single-threaded).
 *
 * `onnx` is the native CPU path: tfjs stays on WASM for the small work (images,
 * the optimisers' vector arithmetic) while the objective runs in ONNX Runtime
 * (`src/onnx/`). It is available where `onnxruntime-node`'s native library loads.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import { backendOverride, dataDir, threadsSetting } from "./config.ts";
import { MAX_WASM_THREADS, withWasmThreads } from "./_wasm_threads.ts";
import { loadOrt, onnxThreads } from "./onnx/runtime.ts";

/** Backends Restyle can run on. */
export type BackendName = "webgpu" | "wasm" | "cpu" | "onnx";

/** What was chosen, and on what. */
export interface BackendInfo {
  /** The backend now active (for `onnx`, tfjs runs on `wasm` beside it). */
  backend: BackendName;
  /** The WebGPU adapter's description, or the CPU for wasm/cpu. */
  adapter: string;
  /** True when WebGPU exists but only on a software (fallback) adapter. */
  softwareAdapter: boolean;
  /** Threads the backend computes on (wasm and onnx may run several; the others count as 1). */
  threads: number;
}

interface GpuAdapterLike {
  isFallbackAdapter?: boolean;
  info?: { description?: string; vendor?: string; isFallbackAdapter?: boolean };
}

async function probeAdapter(): Promise<GpuAdapterLike | null> {
  // deno-lint-ignore no-explicit-any
  const gpu = (navigator as any).gpu;
  if (!gpu) return null;
  try {
    return await gpu.requestAdapter();
  } catch {
    return null;
  }
}

let chosen: BackendInfo | undefined;

/**
 * Selects and initialises the backend once per process.
 *
 * Order: `preferred` (or `RESTYLE_BACKEND`) when given; otherwise `webgpu` on a
 * hardware adapter, `wasm` when a software adapter or none, `cpu` last.
 */
export async function initBackend(preferred?: BackendName): Promise<BackendInfo> {
  const wanted = preferred ?? (backendOverride() as BackendName | undefined);
  if (chosen && (!wanted || wanted === chosen.backend)) return chosen;
  const adapter = await probeAdapter();
  const software = Boolean(adapter?.isFallbackAdapter ?? adapter?.info?.isFallbackAdapter);
  const order: BackendName[] = wanted
    ? [wanted]
    : adapter && !software
    ? ["webgpu", "wasm", "cpu"]
    : ["wasm", "cpu"];
  for (const name of order) {
    const start = async () => {
      if (!(await tf.setBackend(name).catch(() => false))) return false;
      await tf.ready();
      return true;
    };
    const threads = name === "onnx"
      ? await startOnnx()
      : name === "wasm"
      ? await withWasmThreads(wasmThreads(), start)
      : Number(await start());
    if (threads > 0) {
      const description = name === "webgpu"
        ? adapter?.info?.description || adapter?.info?.vendor || "unknown adapter"
        : `${navigator.hardwareConcurrency}-core CPU`;
      chosen = { backend: name, adapter: description, softwareAdapter: software, threads };
      return chosen;
    }
  }
  throw new Error(`no tfjs backend could start (tried ${order.join(", ")})`);
}

/**
 * Starts the `onnx` backend: tfjs on wasm for the small work, ONNX Runtime for the
 * objective. Resolves to ONNX Runtime's thread count, 0 where either cannot start.
 */
async function startOnnx(): Promise<number> {
  try {
    await loadOrt();
  } catch {
    return 0;
  }
  const wasm = async () => {
    if (!(await tf.setBackend("wasm").catch(() => false))) return false;
    await tf.ready();
    return true;
  };
  return (tf.getBackend() === "wasm" || await withWasmThreads(wasmThreads(), wasm) > 0)
    ? onnxThreads()
    : 0;
}

/**
 * The backend in use: `onnx` when {@linkcode initBackend} started it (tfjs then runs on
 * wasm beside it), else tfjs's active backend. The engine reads it once per run to pick
 * its executor (`src/executors/mod.ts`).
 */
export function currentBackend(): BackendName {
  return chosen?.backend === "onnx" && tf.getBackend() === "wasm"
    ? "onnx"
    : tf.getBackend() as BackendName;
}

/** Threads for wasm: `RESTYLE_WASM_THREADS`, else one per core (at most 8). */
export function wasmThreads(): number {
  return Math.min(
    threadsSetting("RESTYLE_WASM_THREADS") ?? navigator.hardwareConcurrency,
    MAX_WASM_THREADS,
  );
}

/** The result of {@linkcode pickBackend}: the backend now in use and why. */
export interface BackendChoice extends BackendInfo {
  /** Milliseconds of one probe run on each candidate (empty when forced or alone). */
  probeMs: Partial<Record<BackendName, number>>;
  /** True when the choice came from the cache file rather than a fresh probe. */
  cached: boolean;
}

/** Options of {@linkcode pickBackend}. */
export interface PickOptions {
  /** What the probe measures, e.g. `"squeezenet@512"`: choices are cached per key. */
  key: string;
  /** One unit of the real work (e.g. a loss + gradient evaluation), awaited to completion. */
  probe: () => Promise<unknown>;
  /**
   * Backends to try; default `webgpu` (on a hardware adapter), `onnx` and `wasm`. A software
   * adapter is not probed unless listed here: WebGPU on llvmpipe takes 20+ s to time.
   * `onnx` is dropped where its native library cannot load.
   */
  candidates?: BackendName[];
  /** Where choices are kept; default `<dataDir>/backend-choice.json`. */
  cacheFile?: string;
}

async function readChoices(
  file: string,
): Promise<Record<string, { backend: BackendName; probeMs: Record<string, number> }>> {
  try {
    return JSON.parse(await Deno.readTextFile(file));
  } catch {
    return {};
  }
}

/**
 * Initialises the fastest backend for a piece of work, measured: each candidate
 * runs `probe` once to warm up and once timed, and the fastest is kept and
 * remembered on disk (per key, core count and adapter), so later runs start
 * on it at once. `RESTYLE_BACKEND` still forces a backend.
 *
 * @example
 * ```ts
 * const choice = await pickBackend({ key: `squeezenet@${size}`, probe: () => evaluateOnce(size) });
 * console.log(`${choice.backend} (${JSON.stringify(choice.probeMs)})`);
 * ```
 */
export async function pickBackend(options: PickOptions): Promise<BackendChoice> {
  lastChoice = await pick(options);
  return lastChoice;
}

let lastChoice: BackendChoice | undefined;

/** The latest {@linkcode pickBackend} result in this process, if any. */
export function backendChoice(): BackendChoice | undefined {
  return lastChoice;
}

async function pick(options: PickOptions): Promise<BackendChoice> {
  if (backendOverride()) return { ...await initBackend(), probeMs: {}, cached: false };
  const adapter = await probeAdapter();
  const hardware = adapter && !(adapter.isFallbackAdapter ?? adapter.info?.isFallbackAdapter);
  const native = await loadOrt().then(() => true, () => false);
  const candidates = options.candidates ??
    [
      ...(hardware ? ["webgpu" as const] : []),
      ...(native ? ["onnx" as const] : []),
      "wasm" as const,
    ];
  if (candidates.length === 1) {
    return { ...await initBackend(candidates[0]), probeMs: {}, cached: false };
  }
  const file = options.cacheFile ?? `${dataDir()}/backend-choice.json`;
  const where = adapter?.info?.description || adapter?.info?.vendor || "no adapter";
  const key = `${options.key} | ${
    candidates.join(",")
  } | ${navigator.hardwareConcurrency} cores | ${where}`;
  const choices = await readChoices(file);
  const known = choices[key];
  if (known && candidates.includes(known.backend)) {
    return { ...await initBackend(known.backend), probeMs: known.probeMs, cached: true };
  }
  const probeMs: Partial<Record<BackendName, number>> = {};
  for (const name of candidates) {
    try {
      await initBackend(name);
      await options.probe();
      const start = performance.now();
      await options.probe();
      probeMs[name] = performance.now() - start;
    } catch {
      // a backend that cannot run the work is not a candidate
    }
  }
  const ranked = Object.entries(probeMs).sort((a, b) => a[1] - b[1]);
  if (ranked.length === 0) {
    throw new Error(`no backend could run the probe (tried ${candidates.join(", ")})`);
  }
  const backend = ranked[0][0] as BackendName;
  choices[key] = { backend, probeMs: probeMs as Record<string, number> };
  await Deno.mkdir(file.replace(/\/[^/]*$/, ""), { recursive: true });
  await Deno.writeTextFile(file, JSON.stringify(choices, null, 2));
  return { ...await initBackend(backend), probeMs, cached: false };
}
