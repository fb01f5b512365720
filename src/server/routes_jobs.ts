/**
 * @module The job routes: `GET/POST /v1/jobs`, `GET/DELETE /v1/jobs/{id}`, events, images,
 * `POST /v1/stylize`.
 */
import { createRoute, type OpenAPIHono } from "@hono/zod-openapi";
import type { StylizeOptions } from "../engine/options.ts";
import type { NetworkId } from "../net/network.ts";
import type { StyleStore } from "../styles/store.ts";
import { ndjsonResponse, pngResponse, sseResponse } from "./events.ts";
import type { Job, JobQueue, JobSpec } from "./jobs.ts";
import { Problem } from "./problem.ts";
import {
  ImageParamsSchema,
  JobCreatedSchema,
  JobFormSchema,
  JobListSchema,
  JobParamsSchema,
  JobSchema,
  problemResponses,
} from "./schemas.ts";
import { readJobForm, type UploadLimits } from "./upload.ts";

/** What the job routes need from the app. */
export interface JobRoutesContext {
  queue: JobQueue;
  styles: StyleStore;
  /** What a job may ask for (stated in `/v1/health`), and how many uploads are read at once. */
  limits: UploadLimits & {
    /** Job uploads read at the same time; more get 429. */
    maxUploads: number;
  };
  /** Whether a network's weights are in place, and the command that fetches them. */
  networkStatus: (id: NetworkId) => Promise<{ ready: boolean; fetch: string }>;
}

const jobForm = {
  required: true,
  content: { "multipart/form-data": { schema: JobFormSchema } },
};

/** JSON view of a job (`GET /v1/jobs/{id}`). */
export function jobView(job: Job, queue: JobQueue) {
  const iso = (ms?: number) => (ms === undefined ? null : new Date(ms).toISOString());
  return {
    id: job.id,
    status: job.status,
    iteration: job.iteration,
    iterations: job.iterations,
    losses: job.losses,
    images: [...job.images.keys()].map((iteration) => ({
      iteration,
      url: job.url(`/images/${iteration}`),
    })),
    ...(job.error ? { error: job.error } : {}),
    position: queue.position(job),
    createdAt: iso(job.createdAt)!,
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    links: links(job),
  };
}

/** A job as `GET /v1/jobs` lists it. */
export function jobSummary(job: Job, queue: JobQueue) {
  return {
    id: job.id,
    status: job.status,
    progress: job.iterations > 0 ? Math.min(1, job.iteration / job.iterations) : 0,
    iteration: job.iteration,
    iterations: job.iterations,
    position: queue.position(job),
    createdAt: new Date(job.createdAt).toISOString(),
    finishedAt: job.finishedAt === undefined ? null : new Date(job.finishedAt).toISOString(),
    links: links(job),
  };
}

function links(job: Job) {
  return { self: job.url(), events: job.url("/events"), latest: job.url("/images/latest") };
}

/** Adds the job routes to `app`. */
export function addJobRoutes(app: OpenAPIHono, ctx: JobRoutesContext): void {
  const { queue } = ctx;

  const findJob = (id: string): Job => {
    const job = queue.get(id);
    if (!job) {
      throw new Problem(404, `no job "${id}" (unknown, or finished long enough ago to be freed)`, {
        type: "unknown-job",
      });
    }
    return job;
  };

  // Checked after the fields (and their limits) and before any image is decoded.
  const admit = async (options: StylizeOptions) => {
    const network: NetworkId = options.network;
    const status = await ctx.networkStatus(network);
    if (!status.ready) {
      throw new Problem(
        503,
        `the ${network} network's weights are not installed; run \`${status.fetch}\` ` +
          "(with RESTYLE_MIRROR=DIR to copy from a local mirror)",
        { type: "weights-missing", extra: { network, command: status.fetch } },
      );
    }
    queue.admit();
  };

  let uploading = 0;
  const submit = async (request: Request): Promise<Job> => {
    queue.admit();
    if (uploading >= ctx.limits.maxUploads) {
      throw new Problem(
        429,
        `${uploading} uploads are being read already (at most ${ctx.limits.maxUploads}); retry shortly`,
        { type: "too-many-uploads", headers: { "Retry-After": "2" } },
      );
    }
    uploading += 1;
    try {
      const spec: JobSpec = await readJobForm(request, ctx.styles, ctx.limits, admit);
      return queue.submit(spec);
    } finally {
      uploading -= 1;
    }
  };

  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/jobs",
    summary: "Queue a stylization job",
    request: { body: jobForm },
    responses: {
      202: {
        description: "queued",
        content: { "application/json": { schema: JobCreatedSchema } },
      },
      ...problemResponses(400, 404, 413, 415, 422, 429, 503),
    },
  });
  app.post("/v1/jobs", async (c) => {
    const job = await submit(c.req.raw);
    c.header("Location", job.url());
    return c.json(
      { id: job.id, status: "queued" as const, position: queue.position(job), links: links(job) },
      202,
    );
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/jobs",
      summary: "The jobs this server holds, newest first",
      description: "Waiting and running jobs, and finished ones while they are kept " +
        "(a bounded number, for a bounded time). Each links to its state, events and latest " +
        "image; `DELETE` its `self` link to cancel it.",
      responses: {
        200: {
          description: "the jobs",
          content: { "application/json": { schema: JobListSchema } },
        },
      },
    }),
    (c) => c.json({ jobs: queue.list().reverse().map((job) => jobSummary(job, queue)) }, 200),
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/jobs/{id}",
      summary: "A job's state",
      request: { params: JobParamsSchema },
      responses: {
        200: { description: "the job", content: { "application/json": { schema: JobSchema } } },
        ...problemResponses(404),
      },
    }),
    (c) => c.json(jobView(findJob(c.req.valid("param").id), queue), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/v1/jobs/{id}",
      summary: "Cancel a job (or forget a finished one)",
      description: "Returns once running work has stopped and its memory is freed.",
      request: { params: JobParamsSchema },
      responses: {
        200: { description: "the job", content: { "application/json": { schema: JobSchema } } },
        ...problemResponses(404),
      },
    }),
    async (c) => {
      const job = await queue.cancel(findJob(c.req.valid("param").id));
      return c.json(jobView(job, queue), 200);
    },
  );

  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/v1/jobs/{id}/events",
    summary: "Server-sent events: status, progress, tile, iteration, done, error, cancelled",
    description: "Each event has an `id:`; reconnect with `Last-Event-ID` to get the missed ones.",
    request: { params: JobParamsSchema },
    responses: {
      200: { description: "event stream", content: { "text/event-stream": { schema: {} } } },
      ...problemResponses(404),
    },
  });
  app.get("/v1/jobs/:id/events", (c) => sseResponse(c, findJob(c.req.param("id"))));

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/jobs/{id}/images/{n}",
      summary: "A preview (or the result) as PNG at the submitted layer's size, alpha re-applied",
      request: { params: ImageParamsSchema },
      responses: {
        200: {
          description: "PNG",
          content: { "image/png": { schema: { type: "string", format: "binary" } } },
        },
        ...problemResponses(404),
      },
    }),
    (c) => {
      const { id, n } = c.req.valid("param");
      const job = findJob(id);
      const iteration = n === "latest" ? job.latestImage : Number(n);
      const png = iteration === undefined ? undefined : job.images.get(iteration);
      if (!png) {
        const have = [...job.images.keys()];
        throw new Problem(
          404,
          `job ${id} has no image for iteration ${n}; ` +
            (have.length ? `it has ${have.join(", ")}` : "no preview has arrived yet"),
          { type: "unknown-image" },
        );
      }
      return c.body(png as Uint8Array<ArrayBuffer>, 200, {
        "Content-Type": "image/png",
        "Cache-Control": n === "latest" ? "no-store" : "private, max-age=3600",
        "X-Iteration": String(iteration),
      });
    },
  );

  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/v1/stylize",
    summary: "Stylize in one call: NDJSON previews, or the final PNG with `Accept: image/png`",
    description: "A client that disconnects cancels its job. With `Accept: image/png` the " +
      "answer starts at once (200, `X-Job-Id`, `Link: <job>; rel=monitor`) so a client that " +
      "hangs up is noticed; the body is the final PNG, or is cut short when the job fails or is " +
      "cancelled, and the job's URL then says why.",
    request: { body: jobForm },
    responses: {
      200: {
        description: "NDJSON lines `{iteration, losses, png}` then `{done: true}`; or a PNG",
        content: {
          "application/x-ndjson": { schema: { type: "string" } },
          "image/png": { schema: { type: "string", format: "binary" } },
        },
      },
      ...problemResponses(400, 404, 413, 415, 422, 429, 503),
    },
  });
  app.post("/v1/stylize", async (c) => {
    const job = await submit(c.req.raw);
    const cancel = () => void queue.cancel(job);
    if (!(c.req.header("accept") ?? "").includes("image/png")) {
      return ndjsonResponse(c, job, cancel);
    }
    // Deno.serve's handler info, which Hono passes on as the env.
    const served = c.env as Partial<Deno.ServeHandlerInfo> | undefined;
    return pngResponse(job, cancel, served?.completed);
  });
}
