/**
 * @module Zod schemas of the HTTP API (v1): they document `/openapi.json`.
 *
 * The response shapes here are the contract that the plug-ins, scripts and
 * tests rely on: fields may be added, never renamed.
 */
import { z } from "@hono/zod-openapi";
import { stylizeOptionsSchema } from "../engine/options.ts";

/** `{field, message}` of an invalid field. */
export const FieldErrorSchema = z.object({
  field: z.string().openapi({ example: "options.iterations" }),
  message: z.string().openapi({ example: "Too big: expected number to be <=2000" }),
}).openapi("FieldError");

/** RFC 9457 problem details. */
export const ProblemSchema = z.object({
  type: z.string().openapi({ example: "/problems/invalid-field" }),
  title: z.string().openapi({ example: "Unprocessable Content" }),
  status: z.number().int().openapi({ example: 422 }),
  detail: z.string(),
  errors: z.array(FieldErrorSchema).optional(),
}).openapi("Problem");

/** OpenAPI responses for `statuses`, each a problem (`application/problem+json`). */
export function problemResponses(...statuses: number[]) {
  return Object.fromEntries(statuses.map((status) => [status, {
    description: `problem (${status})`,
    content: { "application/problem+json": { schema: ProblemSchema } },
  }]));
}

const LossesSchema = z.object({
  total: z.number(),
  content: z.number(),
  style: z.number(),
  tv: z.number(),
}).openapi("Losses");

/** `GET /v1/health`. */
export const HealthSchema = z.object({
  status: z.enum(["starting", "ok", "degraded"]).openapi({
    description: "`starting` until the engine has its backend and default network ready; " +
      "`degraded` when no network has its weights or the engine cannot start",
  }),
  version: z.string(),
  backend: z.string().nullable().openapi({ example: "wasm", description: "null while starting" }),
  adapter: z.string().nullable(),
  backendChoice: z.object({
    picked: z.string().openapi({ example: "wasm" }),
    timings: z.record(z.string(), z.number()).openapi({
      description: "milliseconds of one probe on each candidate (empty when only one could run)",
    }),
    cached: z.boolean().openapi({ description: "the choice came from an earlier measurement" }),
  }).optional().openapi({ description: "present when the backend was picked by measurement" }),
  engine: z.object({
    state: z.enum(["starting", "ready", "failed"]),
    restarts: z.number().int().openapi({
      description: "engine processes replaced since start (crashes, hangs, kills)",
    }),
    error: z.string().optional().openapi({ description: "why the engine cannot start" }),
  }),
  networks: z.array(z.object({
    id: z.string(),
    ready: z.boolean(),
    fetch: z.string().optional().openapi({ description: "command that fetches missing weights" }),
  })),
  queue: z.object({ running: z.number().int(), waiting: z.number().int() }),
  memory: z.object({
    waitingBytes: z.number().int().openapi({ description: "uploaded bytes held by waiting jobs" }),
    imageBytes: z.number().int().openapi({ description: "preview PNG bytes kept" }),
  }),
  limits: z.object({
    maxSize: z.number().int().openapi({ description: "largest maxSize and scales entry" }),
    maxScales: z.number().int(),
    maxIterations: z.number().int(),
    maxStyles: z.number().int(),
    maxPixels: z.number().int().openapi({ description: "largest uploaded image, pixels" }),
    maxBodyBytes: z.number().int(),
    jobTimeLimitMs: z.number().int(),
  }),
}).openapi("Health");

/** One style of `GET /v1/styles`. */
export const StyleSchema = z.object({
  id: z.string().openapi({ example: "starry-night" }),
  title: z.string(),
  artist: z.string().nullable(),
  year: z.string().nullable(),
  width: z.number().int(),
  height: z.number().int(),
  source: z.enum(["catalogue", "user"]),
  available: z.boolean(),
  image: z.string().openapi({ example: "/v1/styles/starry-night/image" }),
  thumbnail: z.string().openapi({ example: "/v1/styles/starry-night/thumbnail" }),
}).openapi("Style");

/** `GET /v1/styles`. */
export const StyleListSchema = z.object({ styles: z.array(StyleSchema) }).openapi("StyleList");

/** Body of `POST /v1/styles`. */
export const StyleUploadSchema = z.object({
  image: z.string().openapi({ type: "string", format: "binary", description: "the painting" }),
  title: z.string().min(1).max(100),
}).openapi("StyleUpload");

const binary = (description: string) =>
  z.string().openapi({ type: "string", format: "binary", description });

/** Body of `POST /v1/jobs` and `POST /v1/stylize` (multipart/form-data). */
export const JobFormSchema = z.object({
  content: binary("the layer to stylize: PNG, JPEG, GIF or TIFF; its alpha is kept"),
  style: z.array(z.string()).optional().openapi({
    description: "catalogue or uploaded style id; repeat for several",
  }),
  styleImage: z.array(binary("a style image")).optional().openapi({
    description: "style image file; repeat for several (after any `style` ids)",
  }),
  initImage: binary("start image when options.init is `image`").optional(),
  mask: z.array(binary("a mask: where a style paints")).optional().openapi({
    description: "where the styles paint: one mask for all of them, or one per style, " +
      "repeated in the styles' order (the `style` ids first, then the `styleImage` files). " +
      "PNG, JPEG, GIF or TIFF of any size (scaled to the content's); its alpha where it has " +
      "any transparency, else its luminance: black (or transparent) untouched, white fully " +
      "styled, grey between. Without it every style covers the whole image",
  }),
  options: stylizeOptionsSchema.optional().openapi({
    description: "JSON object; every field optional (the network preset's defaults)",
  }),
}).openapi("JobForm");

const LinksSchema = z.object({
  self: z.string().openapi({ example: "/v1/jobs/3f6c…" }),
  events: z.string().openapi({ example: "/v1/jobs/3f6c…/events" }),
  latest: z.string().openapi({ example: "/v1/jobs/3f6c…/images/latest" }),
});

/** `POST /v1/jobs` -> 202. */
export const JobCreatedSchema = z.object({
  id: z.string(),
  status: z.literal("queued"),
  position: z.number().int().openapi({ description: "place in the queue, 1 = next" }),
  links: LinksSchema,
}).openapi("JobCreated");

/** `GET /v1/jobs/{id}`. */
export const JobSchema = z.object({
  id: z.string(),
  status: z.enum(["queued", "running", "done", "failed", "cancelled"]),
  iteration: z.number().int(),
  iterations: z.number().int(),
  losses: LossesSchema.nullable().openapi({ description: "null before the first iteration" }),
  images: z.array(z.object({ iteration: z.number().int(), url: z.string() })),
  error: ProblemSchema.optional(),
  position: z.number().int().openapi({ description: "place in the queue; 0 when not waiting" }),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  links: LinksSchema,
}).openapi("Job");

/** One job of `GET /v1/jobs`: what a client needs to pick a job and follow or cancel it. */
export const JobSummarySchema = z.object({
  id: z.string(),
  status: z.enum(["queued", "running", "done", "failed", "cancelled"]),
  progress: z.number().min(0).max(1).openapi({
    description: "iterations done over iterations to run (detail stages included), 0 to 1",
    example: 0.4,
  }),
  iteration: z.number().int(),
  iterations: z.number().int(),
  position: z.number().int().openapi({ description: "place in the queue; 0 when not waiting" }),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  links: LinksSchema,
}).openapi("JobSummary");

/** `GET /v1/jobs`. */
export const JobListSchema = z.object({
  jobs: z.array(JobSummarySchema).openapi({
    description: "waiting, running and kept finished jobs, newest first",
  }),
}).openapi("JobList");

/** `{id}` path parameter of job routes. */
export const JobParamsSchema = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" } }),
});

/** `{id}` path parameter of style routes. */
export const StyleParamsSchema = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" }, example: "starry-night" }),
});

/** `{id}/{n}` path parameters of the image route. */
export const ImageParamsSchema = z.object({
  id: z.string().openapi({ param: { name: "id", in: "path" } }),
  n: z.string().regex(/^(latest|\d+)$/).openapi({
    param: { name: "n", in: "path" },
    description: "an iteration number, or `latest`",
    example: "latest",
  }),
});
