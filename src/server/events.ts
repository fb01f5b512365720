/**
 * @module Streaming a job's events: SSE for `/events`, NDJSON or the final PNG for `/v1/stylize`.
 *
 * Both replay the job's event log from a position and then follow it live
 * until the job finishes; SSE gives every event an `id:` so a client that
 * reconnects with `Last-Event-ID` gets exactly the events it missed.
 */
import type { Context } from "hono";
import { stream, streamSSE } from "hono/streaming";
import { Buffer } from "node:buffer";
import type { Job, JobEvent } from "./jobs.ts";

/** Milliseconds between SSE keep-alive comments while a job is quiet. */
const KEEPALIVE_MS = 15_000;

/** Calls `each` for every event after `lastId`, live, until the job finishes or `signal` aborts. */
export async function followEvents(
  job: Job,
  lastId: number,
  signal: AbortSignal,
  each: (event: JobEvent) => Promise<void>,
  idle?: () => Promise<void>,
): Promise<void> {
  let last = lastId;
  while (!signal.aborted) {
    const next = job.nextEvent(signal); // armed before reading, so no event slips between
    for (const event of job.eventsAfter(last)) {
      if (signal.aborted) return;
      await each(event);
      last = event.id;
    }
    if (job.finished && last >= job.events.length) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const quiet = await Promise.race([
      next.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), KEEPALIVE_MS))),
    ]);
    clearTimeout(timer);
    if (quiet && idle) await idle();
  }
}

/**
 * `text/event-stream` of a job's events. Resumes after `Last-Event-ID` (header,
 * or `?lastEventId=` for clients that cannot set it).
 */
export function sseResponse(c: Context, job: Job): Response {
  const header = c.req.header("last-event-id") ?? c.req.query("lastEventId") ?? "0";
  const lastId = Math.max(0, Number.parseInt(header, 10) || 0);
  return streamSSE(c, async (sse) => {
    const closed = new AbortController();
    sse.onAbort(() => closed.abort());
    await followEvents(
      job,
      lastId,
      closed.signal,
      (event) =>
        sse.writeSSE({
          id: String(event.id),
          event: event.event,
          data: JSON.stringify(event.data),
        }),
      () => sse.write(": keep-alive\n\n").then(() => {}),
    );
  });
}

/**
 * `application/x-ndjson`: one line per preview `{iteration, iterations, losses,
 * elapsedMs, url, png}` (PNG as base64), then `{done: true, ...}`, or
 * `{error: problem}` / `{cancelled: true}`. `onDisconnect` runs when the client goes away early.
 */
export function ndjsonResponse(c: Context, job: Job, onDisconnect: () => void): Response {
  c.header("Content-Type", "application/x-ndjson");
  c.header("X-Job-Id", job.id);
  c.header("Cache-Control", "no-store");
  return stream(c, async (out) => {
    const closed = new AbortController();
    out.onAbort(() => {
      closed.abort();
      if (!job.finished) onDisconnect();
    });
    const line = (value: unknown) => out.write(JSON.stringify(value) + "\n").then(() => {});
    await followEvents(job, 0, closed.signal, async (event) => {
      if (event.event === "iteration") {
        const png = job.images.get(event.data.iteration as number);
        await line({ ...event.data, png: png ? Buffer.from(png).toString("base64") : null });
      } else if (event.event === "done") {
        await line({ done: true, ...event.data });
      } else if (event.event === "error") {
        await line({ error: event.data });
      } else if (event.event === "cancelled") {
        await line({ cancelled: true, ...event.data });
      }
    });
  });
}

/**
 * `image/png`: the job's final image. The headers go out at once, so a client that hangs up
 * is noticed while the job runs: the response then ends before the job does, and
 * `onDisconnect` runs. Under Deno.serve, `completed` (the handler info's promise: it settles
 * when the response has ended, delivered or not) says so, as Deno recommends, rather than
 * `request.signal`; without it, the response stream's cancel does. A failed or cancelled job
 * cuts the body short; `X-Job-Id` and the `Link` header name the job whose `error` says why.
 */
export function pngResponse(
  job: Job,
  onDisconnect: () => void,
  completed?: Promise<void>,
): Response {
  const ended = () => {
    if (!job.finished) onDisconnect();
  };
  completed?.then(ended, ended);
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      await job.settled;
      const latest = job.latestImage;
      const png = job.status === "done" && latest !== undefined
        ? job.images.get(latest)
        : undefined;
      if (!png) {
        controller.error(new Error(`job ${job.id} ${job.status}; see ${job.url()}`));
        return;
      }
      controller.enqueue(png);
      controller.close();
    },
    cancel() {
      if (!completed) ended();
    },
  });
  return new Response(body, {
    status: 200,
    headers: {
      "Content-Type": "image/png",
      "Cache-Control": "no-store",
      "X-Job-Id": job.id,
      "Link": `<${job.url()}>; rel="monitor"`,
    },
  });
}
