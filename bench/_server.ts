/**
 * @module What a client of the HTTP API sees: time to the first preview, and
 * what streaming previews costs per iteration.
 *
 * Runs the real server (`startServer`) in this process on a free loopback port
 * and posts `/v1/stylize` (NDJSON: one line per iteration, a base64 PNG on
 * preview iterations) with real images.
 */
import { Buffer } from "node:buffer";
import { encodePng } from "../src/image/codec.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { startServer } from "../src/server/serve.ts";
import { StyleStore } from "../src/styles/store.ts";
import type { NetworkId } from "../src/net/network.ts";

/** A running server for the bench, with its scratch directory. */
export interface BenchServer {
  url: string;
  close(): Promise<void>;
}

/** Starts the real server on a free loopback port, styles in a scratch directory. */
export async function benchServer(): Promise<BenchServer> {
  const dir = await Deno.makeTempDir({ prefix: "restyle-bench-" });
  const styles = await StyleStore.open({ dir, catalogue: [] });
  const server = await startServer({ port: 0, styles });
  await server.engine?.ready(); // timings start from a ready engine process
  return {
    url: server.url,
    close: async () => {
      await server.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Timings of one `/v1/stylize` request, in ms from sending it. */
export interface StreamTimes {
  firstPreviewMs: number;
  totalMs: number;
  previews: number;
}

/** Posts one `/v1/stylize` and reads the NDJSON stream to its end. */
export async function stylizeOverHttp(
  url: string,
  content: Uint8Array,
  style: Uint8Array,
  options: { network: NetworkId; maxSize: number; iterations: number; previewEvery: number },
): Promise<StreamTimes> {
  const form = new FormData();
  form.append("content", new Blob([content as Uint8Array<ArrayBuffer>], { type: "image/png" }));
  form.append("styleImage", new Blob([style as Uint8Array<ArrayBuffer>], { type: "image/png" }));
  form.append("options", JSON.stringify({ ...options, seed: 7 }));
  const start = performance.now();
  const response = await fetch(`${url}/v1/stylize`, { method: "POST", body: form });
  if (!response.ok || !response.body) {
    throw new Error(`POST /v1/stylize: ${response.status} ${await response.text()}`);
  }
  let firstPreviewMs = NaN;
  let previews = 0;
  let pending = "";
  for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = JSON.parse(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
      if (line.error) throw new Error(`/v1/stylize failed: ${JSON.stringify(line.error)}`);
      if (line.png) {
        previews += 1;
        if (Number.isNaN(firstPreviewMs)) firstPreviewMs = performance.now() - start;
      }
    }
  }
  return { firstPreviewMs, totalMs: performance.now() - start, previews };
}

/** Median of the time to PNG-encode `image` and base64 it, as the server does per preview. */
export async function previewEncodeMs(image: RgbaImage, repeat = 5): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const start = performance.now();
    const png = await encodePng(image);
    JSON.stringify({ png: Buffer.from(png).toString("base64") });
    times.push(performance.now() - start);
  }
  return median(times);
}

/** The middle value (mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
