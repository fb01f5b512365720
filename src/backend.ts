/**
 * @module Choosing the tfjs backend: WebGPU on a real GPU, else WASM, else CPU.
 *
 * WASM runs with SIMD and, where the machine has more than one core, with one
 * thread per core (up to 8; `RESTYLE_WASM_THREADS=1` keeps it single-threaded).
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import { backendOverride } from "./config.ts";
import { MAX_WASM_THREADS, withWasmThreads } from "./_wasm_threads.ts";

/** Backends Restyle can run on. */
export type BackendName = "webgpu" | "wasm" | "cpu";

/** What was chosen, and on what. */
export interface BackendInfo {
  backend: BackendName;
  /** The WebGPU adapter's description, or the CPU for wasm/cpu. */
  adapter: string;
  /** True when WebGPU exists but only on a software (fallback) adapter. */
  softwareAdapter: boolean;
  /** Threads the backend computes on (wasm may run several; the others count as 1). */
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
    const threads = name === "wasm"
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

/** Threads for wasm: `RESTYLE_WASM_THREADS`, else one per core (at most 8). */
export function wasmThreads(): number {
  let fromEnv: string | undefined;
  try {
    fromEnv = Deno.env.get("RESTYLE_WASM_THREADS");
  } catch {
    // no --allow-env: use the default
  }
  const n = fromEnv ? Number(fromEnv) : navigator.hardwareConcurrency;
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `RESTYLE_WASM_THREADS must be a whole number from 1 to ${MAX_WASM_THREADS}, got "${fromEnv}"`,
    );
  }
  return Math.min(n, MAX_WASM_THREADS);
}
