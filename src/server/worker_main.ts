/**
 * @module The engine process: the tfjs backend, the networks and one job at a time.
 *
 * Started by `worker.ts` as `deno run -A worker_main.ts`; talks frames (see
 * `worker_protocol.ts`) over stdin/stdout, so stdout carries nothing else:
 * `console.log` goes to stderr here. At start it picks the backend, loads the
 * default network and says `ready`; then it runs each job it is sent —
 * decoding the uploaded files only now, encoding each preview PNG once — and
 * reports every step and the end with its memory figures. It gives the event
 * loop a turn after every step so a `cancel` is read at once, and exits when
 * stdin closes (the HTTP process went away).
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../backend.ts";
import { chooseBackend } from "../engine/backend_probe.ts";
import { workerTestHooks } from "../config.ts";
import { DEFAULT_OPTIONS } from "../engine/options.ts";
import { stylize } from "../engine/stylize.ts";
import { decodeImage, encodePng, ImageDecodeError } from "../image/codec.ts";
import type { RgbaImage } from "../image/image.ts";
import { getNetwork, networkReady } from "../net/load.ts";
import { Problem, toProblem } from "./problem.ts";
import {
  encodeFrame,
  type FromWorker,
  readFrames,
  type ToWorker,
  unpackImages,
  type WorkerStats,
} from "./worker_protocol.ts";

console.log = console.info = console.debug = console.error;

let writing = Promise.resolve();
const stdout = Deno.stdout.writable.getWriter();
function send(message: FromWorker, payload?: Uint8Array): Promise<void> {
  const frame = encodeFrame(message, payload);
  writing = writing.then(() => stdout.write(frame));
  return writing;
}

function stats(): WorkerStats {
  // Collected first, so the figures show what is held, not garbage awaiting collection.
  (globalThis as { gc?: () => void }).gc?.();
  const memory = tf.memory();
  return {
    numTensors: memory.numTensors,
    tensorBytes: memory.numBytes,
    rss: Deno.memoryUsage().rss,
  };
}

async function start(): Promise<void> {
  const started = performance.now();
  const network = DEFAULT_OPTIONS.network;
  const ready = await networkReady(network);
  // Unforced, the backend is the fastest one measured on the default network (when it is ready).
  const choice = ready ? await chooseBackend(network) : undefined;
  const backend = choice ?? await initBackend();
  if (ready) await getNetwork(network);
  const { backend: name, adapter, softwareAdapter, threads } = backend;
  await send({
    type: "ready",
    backend: { backend: name, adapter, softwareAdapter, threads },
    ...(choice && Object.keys(choice.probeMs).length
      ? {
        backendChoice: {
          picked: choice.backend,
          timings: choice.probeMs as Record<string, number>,
          cached: choice.cached,
        },
      }
      : {}),
    network: ready ? network : null,
    startMs: Math.round(performance.now() - started),
  });
}

async function decode(bytes: Uint8Array, field: string): Promise<RgbaImage> {
  try {
    return await decodeImage(bytes);
  } catch (error) {
    if (!(error instanceof ImageDecodeError)) throw error;
    throw new Problem(error.unsupported ? 415 : 400, `${field}: ${error.message}`, {
      type: error.unsupported ? "unsupported-image-type" : "undecodable-image",
      errors: [{ field, message: error.message }],
    });
  }
}

const running = new Map<string, AbortController>();

async function runJob(message: Extract<ToWorker, { type: "job" }>, payload: Uint8Array) {
  const controller = new AbortController();
  running.set(message.id, controller);
  const { signal } = controller;
  try {
    if (pending) crash(pending);
    const files = unpackImages(message.images, payload);
    const content = await decode(files.content, "content");
    const styles: RgbaImage[] = [];
    for (const [i, style] of files.styles.entries()) {
      styles.push(await decode(style, `styleImage[${i}]`));
    }
    const initImage = files.initImage && await decode(files.initImage, "initImage");
    // Named as the form names them: a mask that cannot be decoded fails the job saying which.
    let masks: RgbaImage[] | undefined;
    for (const [i, mask] of (files.masks ?? []).entries()) {
      (masks ??= []).push(await decode(mask, `mask[${i}]`));
    }
    for await (
      const step of stylize({
        content,
        styles,
        initImage,
        masks,
        options: message.options,
        signal,
        onTile: (progress) => void send({ type: "tile", id: message.id, ...progress }),
      })
    ) {
      const png = step.image ? await encodePng(step.image) : undefined;
      await send({
        type: "step",
        id: message.id,
        iteration: step.iteration,
        iterations: step.iterations,
        losses: step.losses,
        elapsedMs: step.elapsedMs,
        image: png !== undefined,
      }, png);
      // A macrotask turn, so a cancel that arrived during the step is read now.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (pending) crash(pending);
    }
    await send({ type: "end", id: message.id, outcome: "done", stats: stats() });
  } catch (error) {
    if (signal.aborted) {
      await send({ type: "end", id: message.id, outcome: "cancelled", stats: stats() });
      return;
    }
    const problem = toProblem(error);
    const fatal = problem.status >= 500;
    if (fatal) console.error(`restyle engine: job ${message.id} failed:`, error);
    await send({
      type: "end",
      id: message.id,
      outcome: "failed",
      problem: problem.body,
      fatal,
      stats: stats(),
    });
  } finally {
    running.delete(message.id);
  }
}

const testHooks = workerTestHooks();
/** A failure a test asked for, injected at the running job's next step (or the next job's start). */
let pending: "exit" | "hang" | "abort" | undefined;

function crash(how: "exit" | "hang" | "abort"): void {
  pending = undefined;
  if (how === "exit") Deno.exit(70);
  if (how === "abort") {
    throw new WebAssembly.RuntimeError("memory access out of bounds (test hook)");
  }
  const until = Infinity;
  while (Date.now() < until) {
    // spin, as a wasm kernel stuck in a loop does: no event loop turn ever again
  }
}

try {
  await start();
} catch (error) {
  console.error("restyle engine: could not start:", error);
  await send({ type: "start-failed", message: (error as Error).message ?? String(error) });
  Deno.exit(1);
}

let jobs = Promise.resolve();
for await (const { header, payload } of readFrames<ToWorker>(Deno.stdin.readable)) {
  switch (header.type) {
    case "job":
      jobs = jobs.then(() => runJob(header, payload));
      break;
    case "cancel":
      running.get(header.id)?.abort(new DOMException("job cancelled", "AbortError"));
      break;
    case "stats":
      await send({ type: "stats", stats: stats() });
      break;
    case "crash":
      if (testHooks) pending = header.how;
      break;
  }
}
// stdin closed: the HTTP process is gone.
Deno.exit(0);
