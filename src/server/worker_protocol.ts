/**
 * @module The messages between the HTTP process and its engine process, and how they are framed.
 *
 * The engine runs in a child `deno` process (`worker_main.ts`) that talks over
 * its stdin and stdout. Each message is one frame: a 12-byte head (`RSTY`, the
 * JSON header's length, the payload's length, both u32 big-endian), the JSON
 * header, then raw bytes (uploaded image files one way, a preview PNG the
 * other), so images cross the boundary once, encoded, never as JSON text.
 */
import type { BackendInfo } from "../backend.ts";
import type { StylizeOptions } from "../engine/options.ts";
import type { Losses } from "../engine/stylize.ts";
import type { ProblemBody } from "./problem.ts";

/** What the engine process reports about its memory. */
export interface WorkerStats {
  /** Live tfjs tensors (`tf.memory().numTensors`). */
  numTensors: number;
  /** Bytes those tensors hold. */
  tensorBytes: number;
  /** Resident set size of the engine process, bytes. */
  rss: number;
}

/** How an uploaded job's image files are laid out in the payload, in bytes, in order. */
export interface ImageLengths {
  content: number;
  styles: number[];
  initImage?: number;
  /** The masks' lengths, after the init image; absent when the job has none. */
  masks?: number[];
}

/** HTTP process -> engine process. */
export type ToWorker =
  | { type: "job"; id: string; options: StylizeOptions; images: ImageLengths }
  | { type: "cancel"; id: string }
  | { type: "stats" }
  /** Test hook, honoured only when the worker runs with `RESTYLE_WORKER_TEST_HOOKS=1`. */
  | { type: "crash"; how: "exit" | "hang" | "abort" };

/** Engine process -> HTTP process. */
export type FromWorker =
  | {
    type: "ready";
    backend: BackendInfo;
    backendChoice?: { picked: string; timings: Record<string, number>; cached: boolean };
    /** The network loaded at start-up, or null when its weights are missing. */
    network: string | null;
    startMs: number;
  }
  | { type: "start-failed"; message: string }
  | {
    type: "step";
    id: string;
    iteration: number;
    iterations: number;
    losses: Losses;
    elapsedMs: number;
    /** True when the payload holds a preview PNG. */
    image: boolean;
  }
  | {
    /** A tile of a tiled evaluation is done: the job is alive within a long iteration. */
    type: "tile";
    id: string;
    /** The iteration being computed. */
    iteration: number;
    tile: number;
    tiles: number;
  }
  | {
    type: "end";
    id: string;
    outcome: "done" | "cancelled" | "failed";
    problem?: ProblemBody;
    /** The engine may be damaged (an unexpected error): the supervisor replaces the process. */
    fatal?: boolean;
    stats: WorkerStats;
  }
  | { type: "stats"; stats: WorkerStats };

const MAGIC = [0x52, 0x53, 0x54, 0x59]; // "RSTY"
const HEAD = 12;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One frame's bytes: head, JSON header, payload. */
export function encodeFrame(header: unknown, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  const frame = new Uint8Array(HEAD + json.length + payload.length);
  frame.set(MAGIC);
  const view = new DataView(frame.buffer);
  view.setUint32(4, json.length);
  view.setUint32(8, payload.length);
  frame.set(json, HEAD);
  frame.set(payload, HEAD + json.length);
  return frame;
}

/** A decoded frame. */
export interface Frame<T> {
  header: T;
  payload: Uint8Array;
}

/**
 * Reads frames from a byte stream until it ends; throws on bytes that are not a
 * frame (something else wrote to the stream).
 */
export async function* readFrames<T>(stream: ReadableStream<Uint8Array>): AsyncGenerator<Frame<T>> {
  const chunks: Uint8Array[] = [];
  let buffered = 0;
  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  const take = (n: number): Uint8Array => {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const chunk = chunks[0];
      const part = Math.min(chunk.length, n - at);
      out.set(chunk.subarray(0, part), at);
      at += part;
      if (part === chunk.length) chunks.shift();
      else chunks[0] = chunk.subarray(part);
    }
    buffered -= n;
    return out;
  };
  let head: { json: number; payload: number } | undefined;
  for await (const chunk of stream) {
    chunks.push(chunk);
    buffered += chunk.length;
    while (true) {
      if (!head) {
        if (buffered < HEAD) break;
        const bytes = take(HEAD);
        if (!MAGIC.every((b, i) => bytes[i] === b)) {
          const text = decoder.decode(bytes);
          throw new Error(`engine channel out of step: ${JSON.stringify(text)}`);
        }
        const view = new DataView(bytes.buffer);
        head = { json: view.getUint32(4), payload: view.getUint32(8) };
      }
      if (buffered < head.json + head.payload) break;
      const header = JSON.parse(decoder.decode(take(head.json))) as T;
      const payload = take(head.payload);
      head = undefined;
      yield { header, payload };
    }
  }
}

/** A job's image files: what {@linkcode packImages} sends and {@linkcode unpackImages} reads. */
export interface JobImages {
  content: Uint8Array;
  styles: Uint8Array[];
  initImage?: Uint8Array;
  masks?: Uint8Array[];
}

/** Concatenates a job's image files into one payload, with their lengths. */
export function packImages(images: JobImages): { lengths: ImageLengths; payload: Uint8Array } {
  const parts = [
    images.content,
    ...images.styles,
    ...(images.initImage ? [images.initImage] : []),
    ...(images.masks ?? []),
  ];
  const payload = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    payload.set(part, at);
    at += part.length;
  }
  const lengths: ImageLengths = {
    content: images.content.length,
    styles: images.styles.map((s) => s.length),
  };
  if (images.initImage) lengths.initImage = images.initImage.length;
  if (images.masks?.length) lengths.masks = images.masks.map((m) => m.length);
  return { lengths, payload };
}

/** The inverse of {@linkcode packImages}. */
export function unpackImages(lengths: ImageLengths, payload: Uint8Array): JobImages {
  let at = 0;
  const take = (n: number) => payload.subarray(at, at += n);
  const content = take(lengths.content);
  const styles = lengths.styles.map(take);
  const initImage = lengths.initImage === undefined ? undefined : take(lengths.initImage);
  const masks = lengths.masks?.map(take);
  return { content, styles, initImage, ...(masks ? { masks } : {}) };
}
