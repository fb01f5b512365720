/**
 * Shared set-up of the server tests: a real server on a free loopback port,
 * a private data directory holding the catalogue (copied from RESTYLE_MIRROR),
 * small real images, and helpers to read SSE and raw HTTP.
 */
import { decodeImage, encodePng } from "../src/image/codec.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { fetchCatalogue } from "../src/styles/catalogue.ts";
import { StyleStore } from "../src/styles/store.ts";
import type { JobRunner, RunnerStep } from "../src/server/jobs.ts";
import { type RunningServer, type ServeOptions, startServer } from "../src/server/serve.ts";

export const MIRROR = Deno.env.get("RESTYLE_MIRROR");

/** A fresh data directory with the catalogue fetched from the mirror. */
export async function dataDirWithCatalogue(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "restyle-server-test-" });
  await fetchCatalogue({ dest: `${dir}/catalogue`, mirror: MIRROR });
  return dir;
}

/** A real server on a free loopback port, its data in `dir` (a fresh one by default). */
export async function testServer(
  options: ServeOptions & { dir?: string } = {},
): Promise<RunningServer & { dir: string }> {
  const dir = options.dir ?? await dataDirWithCatalogue();
  const styles = await StyleStore.open({ dir });
  const server = await startServer({ port: 0, styles, ...options });
  return { ...server, dir };
}

const fakeLosses = { total: 1, content: 0.5, style: 0.5, tv: 0 };

/**
 * A runner in place of the engine, for route tests where the engine is not the point:
 * `steps` steps of `stepMs` each, a `pngBytes`-byte "preview" each step when asked.
 */
export function fakeRunner(steps: number, stepMs: number, pngBytes = 0): JobRunner {
  return async function* (_spec, signal) {
    for (let i = 1; i <= steps; i++) {
      await new Promise((resolve) => setTimeout(resolve, stepMs));
      signal.throwIfAborted();
      const step: RunnerStep = {
        iteration: i,
        iterations: steps,
        losses: fakeLosses,
        elapsedMs: i * stepMs,
      };
      if (pngBytes) step.png = new Uint8Array(pngBytes).fill(i);
      yield step;
    }
  };
}

/** A `w`x`h` test picture: a colour gradient whose left third is fully transparent. */
export function gradientWithAlpha(w: number, h: number): RgbaImage {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      data[i] = (x * 255) / w;
      data[i + 1] = (y * 255) / h;
      data[i + 2] = 128;
      data[i + 3] = x < w / 3 ? 0 : 255;
    }
  }
  return { width: w, height: h, data };
}

/** The cat photo from the mirror, as PNG bytes. */
export function catPng(): Promise<Uint8Array> {
  return Deno.readFile(`${MIRROR}/images/cat.png`);
}

/** Multipart body of a job. */
export function jobForm(
  content: Uint8Array,
  options: Record<string, unknown>,
  styles: string[] = ["starry-night"],
): FormData {
  const form = new FormData();
  form.append(
    "content",
    new Blob([content as Uint8Array<ArrayBuffer>], { type: "image/png" }),
    "layer.png",
  );
  for (const id of styles) form.append("style", id);
  form.append("options", JSON.stringify(options));
  return form;
}

/** Tiny, fast options: squeezenet, a few iterations at 48 px. */
export function tiny(extra: Record<string, unknown> = {}): Record<string, unknown> {
  // maxDetailSize 48: one stage, its result upscaled to the layer (detail stages cost more).
  return {
    network: "squeezenet",
    iterations: 2,
    previewEvery: 1,
    maxSize: 48,
    maxDetailSize: 48,
    seed: 1,
    ...extra,
  };
}

/** One parsed SSE event. */
export interface SseEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

/** Reads an SSE response to its end (or until `until` says stop). */
export async function readSse(
  response: Response,
  until: (event: SseEvent) => boolean = () => false,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const fields: Record<string, string> = {};
        for (const line of block.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          fields[line.slice(0, colon)] = line.slice(colon + 1).trimStart();
        }
        if (!fields.event) continue;
        const event = { id: Number(fields.id), event: fields.event, data: JSON.parse(fields.data) };
        events.push(event);
        if (until(event)) return events;
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return events;
}

/** Sends raw HTTP/1.1 bytes (so Host can be anything) and returns status and body. */
export async function rawRequest(
  port: number,
  lines: string[],
): Promise<{ status: number; headers: string; body: string }> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(new TextEncoder().encode([...lines, "Connection: close", "", ""].join("\r\n")));
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of conn.readable) text += decoder.decode(chunk, { stream: true });
  const [head, ...rest] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), headers: head, body: rest.join("\r\n\r\n") };
}

/** Whether process `pid` is still running (Linux /proc; a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(Deno.readTextFileSync(`/proc/${pid}/status`));
  } catch {
    return false;
  }
}

/**
 * Whether process `pid` is gone within `ms`: a SIGKILLed process takes a moment to die,
 * and under load the job's last event can reach a client first.
 */
export async function goneWithin(pid: number, ms = 5000): Promise<boolean> {
  const until = performance.now() + ms;
  while (alive(pid)) {
    if (performance.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Decodes a PNG response body. */
export async function pngOf(response: Response): Promise<RgbaImage> {
  return await decodeImage(new Uint8Array(await response.arrayBuffer()));
}

export { decodeImage, encodePng };
