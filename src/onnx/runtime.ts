/**
 * @module ONNX Runtime's native CPU library, loaded on first use.
 *
 * `onnxruntime-node` ships the library for Linux, macOS and Windows (x64, arm64)
 * and loads under Deno through N-API. It is imported lazily, so a machine where
 * it cannot load still runs everything else (on tfjs wasm).
 *
 * Sessions run synchronously through the package's native binding (the public
 * `InferenceSession.run` only wraps the same call in a promise): the optimisers'
 * objective is a synchronous function.
 */
import { threadsSetting } from "../config.ts";
import type * as Ort from "onnxruntime-node";
import type { Binding } from "onnxruntime-node/dist/binding.js";

interface Loaded {
  ort: typeof Ort;
  binding: { InferenceSession: Binding.InferenceSessionConstructor };
}

let loading: Promise<Loaded> | undefined;
let loaded: Loaded | undefined;

/** Loads the native library once; rejects (with the reason) where it cannot load. */
export function loadOrt(): Promise<void> {
  loading ??= (async () => {
    const ort = await import("onnxruntime-node");
    const { binding, initOrt } = await import("onnxruntime-node/dist/binding.js");
    initOrt();
    loaded = { ort, binding };
    return loaded;
  })();
  loading.catch(() => loading = undefined);
  return loading.then(() => {});
}

/** Whether {@linkcode loadOrt} has succeeded in this process. */
export function ortLoaded(): boolean {
  return loaded !== undefined;
}

function runtime(): Loaded {
  if (!loaded) throw new Error("ONNX Runtime is not loaded: await loadOrt() first");
  return loaded;
}

/** Threads a session computes on: `RESTYLE_ONNX_THREADS`, else one per core. */
export function onnxThreads(): number {
  return threadsSetting("RESTYLE_ONNX_THREADS") ?? navigator.hardwareConcurrency;
}

/** Session options the bench may change (`deno task bench --profile --session JSON`). */
export type SessionTuning = Record<string, unknown>;

let tuning: SessionTuning = {};
let profilePrefix: string | undefined;
const profiled: Binding.InferenceSession[] = [];

/**
 * For the bench: options merged over the defaults of sessions made from now on, and
 * ONNX Runtime's profiler on them (`prefix`: where its JSON traces go) until
 * {@linkcode endProfiles}.
 */
export function tuneSessions(options: SessionTuning, prefix?: string): void {
  tuning = options;
  profilePrefix = prefix;
}

/** Ends the profiled sessions' traces (written to `<prefix>_<date>.json`). */
export function endProfiles(): void {
  for (const session of profiled.splice(0)) session.endProfiling();
}

/** A float32 tensor by name: its data and shape. */
export interface Float32Value {
  data: Float32Array;
  dims: readonly number[];
}

/** One loaded model, run synchronously on float32 inputs. */
export class OrtSession {
  readonly #session: Binding.InferenceSession;
  readonly #outputs: string[];

  /** Loads a serialised `ModelProto` (ONNX Runtime optimises it here, once). */
  constructor(model: Uint8Array) {
    const { binding } = runtime();
    this.#session = new binding.InferenceSession();
    this.#session.loadModel(model.buffer as ArrayBuffer, model.byteOffset, model.byteLength, {
      // "all" includes the NCHWc (blocked) layout for convolutions: ~20 % less CPU time for
      // VGG16, no measurable difference for SqueezeNet and GoogLeNet (single-threaded CPU time).
      graphOptimizationLevel: "all",
      executionMode: "sequential",
      intraOpNumThreads: onnxThreads(),
      interOpNumThreads: 1,
      logSeverityLevel: 3,
      // Within a run, idle workers spin for the next parallel section (4-7 % faster at 512 px,
      // interleaved: `deno task bench --profile --versus`); when a run ends they stop and sleep,
      // since a server shares its cores with the rest of the machine.
      extra: { session: { force_spinning_stop: "1", intra_op: { allow_spinning: "1" } } },
      ...tuning,
      ...(profilePrefix ? { enableProfiling: true, profileFilePrefix: profilePrefix } : {}),
    });
    if (profilePrefix) profiled.push(this.#session);
    this.#outputs = this.#session.outputMetadata.map((m) => m.name);
  }

  /** Runs the model; returns every output. */
  run(inputs: Record<string, Float32Value>): Record<string, Float32Value> {
    const { ort } = runtime();
    const feeds: Record<string, Ort.Tensor> = {};
    for (const [name, { data, dims }] of Object.entries(inputs)) {
      feeds[name] = new ort.Tensor("float32", data, [...dims]);
    }
    const fetches = Object.fromEntries(this.#outputs.map((name) => [name, null]));
    const results = this.#session.run(feeds, fetches, {});
    const out: Record<string, Float32Value> = {};
    for (const name of this.#outputs) {
      const value = results[name] as Ort.Tensor;
      out[name] = { data: value.data as Float32Array, dims: value.dims };
    }
    return out;
  }

  /** Frees the native session. */
  dispose(): void {
    this.#session.dispose();
  }
}
