/**
 * @module Multi-threaded tfjs-backend-wasm under Deno.
 *
 * tfjs-backend-wasm sees Deno as Node and disables threads (tfjs#3830); forced
 * on, its Emscripten glue starts pthread workers from `blob:` URLs, which
 * `node:worker_threads` refuses, and caps the thread count at half the cores.
 * Three small, contained adjustments make the stock package run threaded,
 * without patching or copying it:
 *
 * 1. `WASM_HAS_MULTITHREAD_SUPPORT` is set, and the thread count with the
 *    package's own `setThreadsCount`.
 * 2. `worker_threads.Worker` is wrapped so that a `blob:` script starts
 *    `_wasm_thread_worker.mjs` instead, which loads the blob itself.
 * 3. While the backend initialises, `os.cpus()` reports enough cores for the
 *    requested count (the glue asks it for the cap); it is restored right after.
 */
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import os from "node:os";
import workerThreads from "node:worker_threads";

/** Emscripten's fixed pool: more threads than this would start workers mid-run. */
export const MAX_WASM_THREADS = 8;

const WORKER = new URL("./_wasm_thread_worker.mjs", import.meta.url);
let workersWrapped = false;

function wrapWorkers(): void {
  if (workersWrapped) return;
  workersWrapped = true;
  const NodeWorker = workerThreads.Worker;
  class BlobWorker extends NodeWorker {
    #loaded = false;
    constructor(script: string | URL, options?: workerThreads.WorkerOptions) {
      const fromBlob = typeof script === "string" && script.startsWith("blob:");
      super(
        fromBlob ? WORKER : script,
        fromBlob
          ? { ...options, workerData: { workerUrl: script, bundleFile: "tf-backend-wasm.node.js" } }
          : options,
      );
      if (!fromBlob) return;
      // Until it has loaded, the backend's start-up awaits this worker; after that,
      // pthread workers (which run for the life of the thread pool) must never keep
      // the process alive, though the glue ref()s a worker while its thread runs.
      this.once("message", () => {
        this.#loaded = true;
        super.unref();
      });
    }
    override ref(): void {
      if (!this.#loaded) super.ref();
    }
  }
  // deno-lint-ignore no-explicit-any
  (workerThreads as any).Worker = BlobWorker;
}

/**
 * Arranges for the next `tf.setBackend("wasm")` to run `threads` threads,
 * and runs `init` (which must initialise the wasm backend) under that set-up.
 * Returns the number of threads the backend runs (1 when threads failed).
 */
export async function withWasmThreads(
  threads: number,
  init: () => Promise<boolean>,
): Promise<number> {
  const count = Math.max(1, Math.min(MAX_WASM_THREADS, Math.floor(threads)));
  if (count > 1) {
    wrapWorkers();
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
    setThreadsCount(count);
  }
  const realCpus = os.cpus;
  const cores = realCpus();
  // deno-lint-ignore no-explicit-any
  (os as any).cpus = () =>
    Array.from({ length: Math.max(cores.length, 2 * count) }, (_, i) => cores[i % cores.length]);
  try {
    if (!(await init())) return 0;
  } finally {
    // deno-lint-ignore no-explicit-any
    (os as any).cpus = realCpus;
  }
  return getThreadsCount();
}
