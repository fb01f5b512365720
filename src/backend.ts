/**
 * @module Choosing the tfjs backend: WebGPU on a real GPU, else WASM, else CPU.
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import { backendOverride } from "./config.ts";

/** Backends Restyle can run on. */
export type BackendName = "webgpu" | "wasm" | "cpu";

/** What was chosen, and on what. */
export interface BackendInfo {
  backend: BackendName;
  /** The WebGPU adapter's description, or the CPU for wasm/cpu. */
  adapter: string;
  /** True when WebGPU exists but only on a software (fallback) adapter. */
  softwareAdapter: boolean;
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
    if (await tf.setBackend(name).catch(() => false)) {
      await tf.ready();
      const description = name === "webgpu"
        ? adapter?.info?.description || adapter?.info?.vendor || "unknown adapter"
        : `${navigator.hardwareConcurrency}-core CPU`;
      chosen = { backend: name, adapter: description, softwareAdapter: software };
      return chosen;
    }
  }
  throw new Error(`no tfjs backend could start (tried ${order.join(", ")})`);
}
