/**
 * @module The Restyle HTTP app (API v1, docs, the web page, the Photopea plug-in page).
 *
 * {@linkcode createApp} assembles guards, routes and the job queue into a Hono
 * app; `serve.ts` puts it on a socket. Every error is `application/problem+json`.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import { createRoute } from "@hono/zod-openapi";
import { repoPath } from "../config.ts";
import { MAX_ITERATIONS, MAX_SIZE } from "../engine/options.ts";
import { networkReady } from "../net/load.ts";
import { NETWORK_IDS, type NetworkId } from "../net/network.ts";
import { StyleStore } from "../styles/store.ts";
import { weightsCommand } from "../weights/install.ts";
import { bodyLimit } from "./body_limit.ts";
import { addDocsRoutes } from "./docs.ts";
import {
  frameAncestors,
  hostGuard,
  originGuard,
  PHOTOPEA_ORIGINS,
  PHOTOPEA_PLUGIN_PATH,
  tokenGuard,
} from "./guard.ts";
import { JobQueue, type JobRunner } from "./jobs.ts";
import { fieldProblem, onProblem, Problem } from "./problem.ts";
import { addJobRoutes } from "./routes_jobs.ts";
import { addStyleRoutes } from "./routes_styles.ts";
import { HealthSchema } from "./schemas.ts";
import { staticFiles } from "./static.ts";
import { type EngineOptions, type EngineStatus, EngineWorker } from "./worker.ts";

/** Options of {@linkcode createApp}; every field has a default. */
export interface AppOptions {
  /** Bearer token required on `/v1/*`; default none (then loopback only, see `serve.ts`). */
  token?: string;
  /** Extra allowed `Host` names besides loopback ones; `["*"]` allows any. Default `[]`. */
  allowedHosts?: string[];
  /** Extra allowed cross-origin callers. Default `[]`. */
  allowedOrigins?: string[];
  /**
   * Give Photopea's origins the whole API, not only the plug-in page. Default
   * false: the plug-in panel calls the API from this server's own origin.
   */
  allowPhotopea?: boolean;
  /** Largest request body in bytes (413 beyond). Default 64 MiB. */
  maxBodyBytes?: number;
  /** Largest width × height of an uploaded image, read from its header before decoding (413 beyond). Default 36 M. */
  maxPixels?: number;
  /** Most iterations per job (422 beyond; at most the schema's 2000). Default 1000. */
  maxIterations?: number;
  /** Most styles per job (422 beyond). Default 8. */
  maxStyles?: number;
  /** Largest `maxSize` and `scales` entry served (422 beyond; at most 2048). Default 1024. */
  maxSize?: number;
  /** Most entries in `scales` (422 beyond). Default 4. */
  maxScales?: number;
  /** Job uploads read at once (429 beyond). Default 4. */
  maxUploads?: number;
  /** A job running longer is stopped and failed, ms. Default 30 min. */
  jobTimeLimitMs?: number;
  /** Bytes of uploaded files waiting jobs may hold together (429 beyond). Default 256 MiB. */
  maxWaitingBytes?: number;
  /** Bytes of preview PNGs kept per job, oldest dropped first. Default 32 MiB. */
  maxImageBytesPerJob?: number;
  /** Bytes of preview PNGs kept over all jobs, oldest dropped first. Default 256 MiB. */
  maxImageBytes?: number;
  /** Jobs that may wait behind the running one (429 beyond). Default 8. */
  maxWaiting?: number;
  /** Finished jobs kept (oldest freed first). Default 32. */
  keepFinished?: number;
  /** How long finished jobs and their images are kept, ms. Default 30 min. */
  keepMs?: number;
  /** Style store; default `StyleStore.open()` on `<dataDir>/styles`. */
  styles?: StyleStore;
  /**
   * Runs a job in this process instead of the engine process (tests use a fake runner);
   * default: an {@linkcode EngineWorker}.
   */
  run?: JobRunner;
  /** Supervision of the engine process (watchdog, memory cap) when `run` is not given. */
  engine?: EngineOptions;
}

/** An app and what it owns. */
export interface RestyleApp {
  /**
   * The Hono app; serve it with `Deno.serve(handler, app.fetch)`.
   */
  app: OpenAPIHono;
  /** The job queue behind `/v1/jobs` (one job runs at a time). */
  queue: JobQueue;
  /** The style store behind `/v1/styles`. */
  styles: StyleStore;
  /** The engine process, unless a `run` was given. */
  engine?: EngineWorker;
  /** Cancels every job and stops the engine process. */
  close(): Promise<void>;
}

const defaults = {
  allowedHosts: [] as string[],
  allowedOrigins: [] as string[],
  maxBodyBytes: 64 * 1024 * 1024,
  maxPixels: 36_000_000,
  maxIterations: 1000,
  maxStyles: 8,
  maxSize: 1024,
  maxScales: 4,
  maxUploads: 4,
  jobTimeLimitMs: 30 * 60_000,
  maxWaitingBytes: 256 * 1024 * 1024,
  maxImageBytesPerJob: 32 * 1024 * 1024,
  maxImageBytes: 256 * 1024 * 1024,
  maxWaiting: 8,
  keepFinished: 32,
  keepMs: 30 * 60_000,
};

/**
 * Builds the app.
 *
 * @example
 * ```ts
 * const { app, close } = await createApp({ maxWaiting: 4 });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 8787 }, app.fetch);
 * ```
 */
export async function createApp(options: AppOptions = {}): Promise<RestyleApp> {
  const config = { ...defaults, ...options };
  // What /v1/health states and every refusal quotes: the limits that apply, within the schema's.
  config.maxSize = Math.min(config.maxSize, MAX_SIZE);
  config.maxIterations = Math.min(config.maxIterations, MAX_ITERATIONS);
  const styles = config.styles ?? await StyleStore.open();
  // The engine starts now, in its own process; health says "starting" until it is ready.
  const engine = config.run ? undefined : new EngineWorker(config.engine);
  const engineStatus = (): EngineStatus => engine?.status() ?? { state: "ready", restarts: 0 };
  const queue = new JobQueue({
    run: config.run ?? engine!.run,
    maxWaiting: config.maxWaiting,
    maxWaitingBytes: config.maxWaitingBytes,
    timeLimitMs: config.jobTimeLimitMs,
    maxImageBytesPerJob: config.maxImageBytesPerJob,
    maxImageBytes: config.maxImageBytes,
    keepFinished: config.keepFinished,
    keepMs: config.keepMs,
  });
  const version = await readVersion();

  const app = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) throw fieldProblem(result.error);
    },
  });
  app.onError(onProblem);
  app.notFound((c) => {
    throw new Problem(404, `no route ${c.req.method} ${new URL(c.req.url).pathname}`, {
      type: "no-route",
    });
  });
  app.use("*", async (c, next) => {
    await next();
    // Framed only by our own pages (and Photopea, for its plug-in page); no MIME sniffing.
    c.header("Content-Security-Policy", frameAncestors(c.req.path, config.allowedOrigins));
    c.header("X-Content-Type-Options", "nosniff");
  });
  app.use("*", hostGuard(config.allowedHosts));
  app.use(
    "*",
    originGuard(
      [...(config.allowPhotopea ? PHOTOPEA_ORIGINS : []), ...config.allowedOrigins],
      { [PHOTOPEA_PLUGIN_PATH]: PHOTOPEA_ORIGINS },
    ),
  );
  app.use("/v1/*", tokenGuard(config.token));
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: config.maxBodyBytes,
      onError: () => {
        throw new Problem(413, `the request body is over ${config.maxBodyBytes} bytes`, {
          type: "body-too-large",
        });
      },
    }),
  );

  const networkStatus = async (id: NetworkId) => ({
    ready: await networkReady(id),
    fetch: weightsCommand(id),
  });

  app.openapi(
    createRoute({
      method: "get",
      path: "/v1/health",
      summary: "Engine state, backend, networks, queue and the limits this server serves",
      description: "Answers from the moment the server listens: `status` is `starting` until " +
        "the engine has its backend and default network ready.",
      responses: {
        200: { description: "health", content: { "application/json": { schema: HealthSchema } } },
      },
    }),
    async (c) => {
      const networks = await Promise.all(NETWORK_IDS.map(async (id) => {
        const { ready, fetch } = await networkStatus(id);
        return ready ? { id, ready } : { id, ready, fetch };
      }));
      const state = engineStatus();
      const status = state.state === "starting"
        ? "starting" as const
        : state.state === "failed" || !networks.some((n) => n.ready)
        ? "degraded" as const
        : "ok" as const;
      return c.json({
        status,
        version,
        backend: state.backend?.backend ?? null,
        adapter: state.backend?.adapter ?? null,
        ...(state.backendChoice ? { backendChoice: state.backendChoice } : {}),
        engine: {
          state: state.state,
          restarts: state.restarts,
          ...(state.error ? { error: state.error } : {}),
        },
        networks,
        queue: queue.counts,
        memory: { waitingBytes: queue.bytes.waiting, imageBytes: queue.bytes.images },
        limits: {
          maxSize: config.maxSize,
          maxScales: config.maxScales,
          maxIterations: config.maxIterations,
          maxStyles: config.maxStyles,
          maxPixels: config.maxPixels,
          maxBodyBytes: config.maxBodyBytes,
          jobTimeLimitMs: config.jobTimeLimitMs,
        },
      }, 200);
    },
  );

  addStyleRoutes(app, styles, config.maxPixels);
  addJobRoutes(app, {
    queue,
    styles,
    networkStatus,
    limits: {
      maxPixels: config.maxPixels,
      maxIterations: config.maxIterations,
      maxStyles: config.maxStyles,
      maxSize: config.maxSize,
      maxScales: config.maxScales,
      maxUploads: config.maxUploads,
    },
  });

  app.doc("/openapi.json", {
    openapi: "3.0.3",
    info: {
      title: "Restyle",
      version,
      description: "Local neural style transfer (Gatys et al.) for image editors.",
    },
  });
  addDocsRoutes(app, "/openapi.json");
  app.get("/plugin/photopea", (c) => c.redirect("/plugin/photopea/"));
  app.get("/plugin/photopea/*", staticFiles(repoPath("plugin/photopea"), "/plugin/photopea/"));
  // The API client the web page and the Photopea panel share (the Python one is not served).
  app.get(
    "/plugin/common/*",
    staticFiles(repoPath("plugin/common"), "/plugin/common/", { only: /\.js$/ }),
  );
  app.get("/*", staticFiles(repoPath("src/server/web"), "/"));

  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      // Cancel everything, and stop the engine process at once rather than wait for a long
      // step to end: its running job then ends as cancelled.
      const cancelling = queue.close();
      await engine?.close();
      await cancelling;
    })();
  return { app, queue, styles, engine, close };
}

async function readVersion(): Promise<string> {
  try {
    return JSON.parse(await Deno.readTextFile(repoPath("deno.json"))).version ?? "0.0.0";
  } catch {
    return "0.0.0";
  }
}
