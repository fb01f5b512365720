/**
 * @module What the service does under load: `/v1/health` latency while a 512 px job computes
 * in the engine process, and the memory of 50 small jobs in a row (the soak).
 *
 * Runs the real server (`startServer`, the engine in its own process) in this process on a
 * free loopback port, with real images from the mirror or the catalogue.
 */
import type { WorkerStats } from "../src/server/worker.ts";
import { encodePng } from "../src/image/codec.ts";
import { startServer } from "../src/server/serve.ts";
import { StyleStore } from "../src/styles/store.ts";
import { median } from "./_server.ts";

/** Health latency under load and the soak's memory figures. */
export interface ServiceFigures {
  /** The machine's CPU, from /proc/cpuinfo. */
  cpu: string;
  /** `/v1/health` answer times while idle, ms. */
  idle: Percentiles;
  /** `/v1/health` answer times while a 512 px job computes, ms. */
  underLoad: Percentiles & { jobMs: number };
  /** The soak: 50 jobs of 32–64 px, 2 iterations each, after 40 to warm up. */
  soak: {
    jobs: number;
    tensors: [number, number];
    engineRssMiB: [number, number];
    serverRssMiB: [number, number];
    msPerJob: number;
  };
}

/** Median, 99th percentile and maximum of a set of timings, and how many. */
export interface Percentiles {
  p50: number;
  p99: number;
  max: number;
  n: number;
}

function percentiles(values: number[]): Percentiles {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
  return { p50: median(values), p99: at(0.99), max: sorted.at(-1)!, n: values.length };
}

/** The CPU model, for the record. */
export function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1].trim() ?? "unknown CPU";
  } catch {
    return "unknown CPU";
  }
}

/** A gradient picture of `size` px as PNG bytes. */
async function picture(size: number): Promise<Uint8Array> {
  const data = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) {
    const x = i % size;
    const y = Math.floor(i / size);
    data.set([(x * 255) / size, (y * 255) / size, ((x ^ y) * 7) & 255, 255], i * 4);
  }
  return await encodePng({ width: size, height: size, data });
}

function form(content: Uint8Array, style: Uint8Array, options: Record<string, unknown>) {
  const body = new FormData();
  body.append("content", new Blob([content as Uint8Array<ArrayBuffer>], { type: "image/png" }));
  body.append("styleImage", new Blob([style as Uint8Array<ArrayBuffer>], { type: "image/png" }));
  body.append("options", JSON.stringify({ network: "squeezenet", seed: 7, ...options }));
  return body;
}

/** Polls `/v1/health` every `everyMs` until `until` settles; returns each answer's time. */
async function pollHealth(url: string, until: Promise<unknown>, everyMs = 20): Promise<number[]> {
  let done = false;
  until.finally(() => (done = true));
  const times: number[] = [];
  while (!done) {
    const start = performance.now();
    const response = await fetch(`${url}/v1/health`);
    await response.arrayBuffer();
    if (!response.ok) throw new Error(`/v1/health answered ${response.status}`);
    times.push(performance.now() - start);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return times;
}

/** Runs one job to its end through `/v1/stylize` (PNG answer). */
async function stylizePng(url: string, body: FormData): Promise<void> {
  const response = await fetch(`${url}/v1/stylize`, {
    method: "POST",
    headers: { accept: "image/png" },
    body,
  });
  if (!response.ok) throw new Error(`/v1/stylize: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

/** Measures health latency (idle and under a 512 px job) and the soak. */
export async function measureService(): Promise<ServiceFigures> {
  const dir = await Deno.makeTempDir({ prefix: "restyle-bench-service-" });
  const styles = await StyleStore.open({ dir, catalogue: [] });
  const server = await startServer({ port: 0, styles });
  try {
    await server.engine!.ready();
    console.error("  service: engine ready; health while idle …");
    const style = await picture(256);
    const idle = percentiles(await pollHealth(server.url, new Promise((r) => setTimeout(r, 2000))));

    console.error("  service: health during a 512 px job …");
    const big = await picture(512);
    const started = performance.now();
    const job = stylizePng(
      server.url,
      form(big, style, { maxSize: 512, iterations: 10, previewEvery: 5 }),
    );
    const underLoad = percentiles(await pollHealth(server.url, job));
    await job;
    const jobMs = performance.now() - started;

    console.error("  service: soak …");
    const sides = [32, 48, 64];
    const small = await Promise.all(sides.map(picture));
    const run = (i: number) =>
      stylizePng(
        server.url,
        form(small[i % 3], small[(i + 1) % 3], { iterations: 2, maxSize: sides[i % 3] }),
      );
    for (let i = 0; i < 40; i++) await run(i); // memory grows in steps to its working size
    const sample = async () => ({
      ...await server.engine!.stats(),
      server: Deno.memoryUsage().rss,
    });
    const samples: Array<WorkerStats & { server: number }> = [];
    const soakStart = performance.now();
    for (let i = 0; i < 50; i++) {
      await run(i);
      samples.push(await sample());
    }
    const msPerJob = (performance.now() - soakStart) / 50;
    const mib = (part: typeof samples, key: "rss" | "server") =>
      Math.round(part.reduce((n, s) => n + s[key], 0) / part.length / 2 ** 20 * 10) / 10;
    const [first, last] = [samples.slice(0, 10), samples.slice(-10)];
    return {
      cpu: cpuModel(),
      idle,
      underLoad: { ...underLoad, jobMs },
      soak: {
        jobs: 50,
        tensors: [samples[0].numTensors, samples.at(-1)!.numTensors],
        engineRssMiB: [mib(first, "rss"), mib(last, "rss")],
        serverRssMiB: [mib(first, "server"), mib(last, "server")],
        msPerJob,
      },
    };
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The figures as a few lines of text. */
export function serviceReport(f: ServiceFigures): string {
  const ms = (n: number) => n.toFixed(1);
  const line = (p: Percentiles) =>
    `p50 ${ms(p.p50)} ms, p99 ${ms(p.p99)} ms, max ${ms(p.max)} ms (${p.n} requests)`;
  return [
    `service on ${f.cpu} (${navigator.hardwareConcurrency} cores):`,
    `  /v1/health idle:                 ${line(f.idle)}`,
    `  /v1/health during a 512 px job:  ${line(f.underLoad)}; the job took ${
      (f.underLoad.jobMs / 1000).toFixed(1)
    } s`,
    `  soak, ${f.soak.jobs} jobs of 32-64 px (${ms(f.soak.msPerJob)} ms each): engine tensors ` +
    `${f.soak.tensors[0]} -> ${f.soak.tensors[1]}, engine RSS ${f.soak.engineRssMiB[0]} -> ` +
    `${f.soak.engineRssMiB[1]} MiB, server RSS ${f.soak.serverRssMiB[0]} -> ` +
    `${f.soak.serverRssMiB[1]} MiB (first ten vs last ten)`,
  ].join("\n");
}
