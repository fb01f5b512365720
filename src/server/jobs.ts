/**
 * @module The job queue: one stylization runs at a time, the rest wait in a bounded FIFO.
 *
 * Each job keeps an ordered event log (`status`, `progress`, `iteration`,
 * `done`, `error`, `cancelled`) whose ids are 1, 2, 3… so a client that lost
 * its event stream resumes with `Last-Event-ID`; its previews arrive as PNG
 * bytes, encoded once by the engine. Memory is bounded in bytes: a waiting
 * job holds only its uploaded files (decoded when it runs), and previews are
 * kept within a per-job and an overall byte budget, oldest dropped first.
 * Finished jobs stay readable for a bounded time and count, then are freed.
 * Cancelling aborts the running stylization; a job over the time limit fails.
 */
import type { StylizeOptions } from "../engine/options.ts";
import type { Losses, StylizeStep, TileProgress } from "../engine/stylize.ts";
import { Problem, type ProblemBody, toProblem } from "./problem.ts";

/** Where a job is in its life. */
export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

/** The four loss terms reported each iteration (the engine's). */
export type { Losses };

/** One step as a runner reports it: the engine's `StylizeStep`, its preview as PNG bytes. */
export type RunnerStep =
  & Pick<StylizeStep, "iteration" | "iterations" | "losses" | "elapsedMs">
  & {
    /** A preview as PNG bytes, on preview iterations and the last. */
    png?: Uint8Array;
  };

/** A tile of a tiled evaluation done, within the iteration it computes (`TileProgress`). */
export type RunnerTile = TileProgress;

/** What a job stylizes: the uploaded image files (PNG, JPEG, GIF or TIFF bytes) and validated options. */
export interface JobSpec {
  /** The image to restyle. */
  content: Uint8Array;
  /** One or more style images. */
  styles: Uint8Array[];
  /** Start image for `init: "image"`. */
  initImage?: Uint8Array;
  /**
   * Where the styles paint (the engine's `StylizeInput.masks`): one per style, in the order of
   * `styles`, or one for all of them. Absent: every style covers the whole image.
   */
  masks?: Uint8Array[];
  /** Stylize options, parsed once at the edge (defaults applied). */
  options: StylizeOptions;
}

/** Bytes a spec holds: every uploaded file, masks included. */
export function specBytes(spec: JobSpec): number {
  const sum = (files: Uint8Array[] = []) => files.reduce((n, f) => n + f.length, 0);
  return spec.content.length + sum(spec.styles) + (spec.initImage?.length ?? 0) + sum(spec.masks);
}

/** Runs one job; must stop (throwing `signal.reason`) within one step of an abort. */
export type JobRunner = (
  spec: JobSpec,
  signal: AbortSignal,
) => AsyncIterable<RunnerStep | RunnerTile>;

/** One entry of a job's event log, as sent over SSE. */
export interface JobEvent {
  /** Sequence number within the job (the SSE `id`), from 1. */
  id: number;
  /** The SSE event name. */
  event: "status" | "progress" | "tile" | "iteration" | "done" | "error" | "cancelled";
  /** The SSE data, sent as JSON. */
  data: Record<string, unknown>;
}

/** Options of {@linkcode JobQueue}. */
export interface JobQueueOptions {
  /** Runs a job (the engine, with its network). */
  run: JobRunner;
  /** Jobs that may wait behind the running one; more get 429. Default 8. */
  maxWaiting?: number;
  /** Bytes of uploaded files all waiting jobs may hold together; more get 429. Default 256 MiB. */
  maxWaitingBytes?: number;
  /** A running job is stopped and failed after this many ms. Default 30 minutes. */
  timeLimitMs?: number;
  /** Bytes of preview PNGs kept per job (oldest dropped first). Default 32 MiB. */
  maxImageBytesPerJob?: number;
  /** Bytes of preview PNGs kept over all jobs (oldest dropped first; a job's latest last). Default 256 MiB. */
  maxImageBytes?: number;
  /** Finished jobs kept readable (oldest freed first). Default 32. */
  keepFinished?: number;
  /** How long a finished job is kept, in ms. Default 30 minutes. */
  keepMs?: number;
  /** Preview images kept per job (the newest). Default 100. */
  maxImagesPerJob?: number;
  /** Path prefix of job URLs. Default `/v1/jobs`. */
  basePath?: string;
}

const TERMINAL: ReadonlySet<JobStatus> = new Set(["done", "failed", "cancelled"]);

/** A job: its state, event log and preview images. */
export class Job {
  /** Random UUID. */
  readonly id: string = crypto.randomUUID();
  /** When it was submitted, ms since the epoch. */
  readonly createdAt: number = Date.now();
  /** Where it is in its life. */
  status: JobStatus = "queued";
  /** Iterations done so far. */
  iteration = 0;
  /** Iterations asked for. */
  iterations: number;
  /** The latest iteration's losses; `null` before the first. */
  losses: Losses | null = null;
  /** Why it failed, when it did. */
  error?: ProblemBody;
  /** When it started running, ms since the epoch. */
  startedAt?: number;
  /** When it finished, ms since the epoch. */
  finishedAt?: number;
  /** Preview PNGs by iteration, oldest first. */
  readonly images: Map<number, Uint8Array> = new Map();
  /** Every event so far, oldest first (replayed to late SSE subscribers). */
  readonly events: JobEvent[] = [];
  /** Aborting it cancels the job. */
  readonly controller: AbortController = new AbortController();
  /** Resolves once the job is done, failed or cancelled. */
  readonly settled: Promise<void>;
  #settle!: () => void;
  #wake: Array<() => void> = [];

  /** The input; dropped when the job finishes so its images can be freed. */
  spec: JobSpec | undefined;

  /** A queued job for `spec`; its URLs start with `basePath` (e.g. `/v1/jobs`). */
  constructor(spec: JobSpec, readonly basePath: string) {
    this.spec = spec;
    this.iterations = spec.options.iterations;
    this.settled = new Promise((resolve) => (this.#settle = resolve));
  }

  /** True once done, failed or cancelled. */
  get finished(): boolean {
    return TERMINAL.has(this.status);
  }

  /** URL path of this job, or of one of its sub-resources. */
  url(suffix = ""): string {
    return `${this.basePath}/${this.id}${suffix}`;
  }

  /** The iteration of the newest preview, if any. */
  get latestImage(): number | undefined {
    return [...this.images.keys()].at(-1);
  }

  /** Events after `lastId` (ids are 1, 2, 3…). */
  eventsAfter(lastId: number): JobEvent[] {
    return this.events.slice(Math.max(0, lastId));
  }

  /** Resolves at the next event (or when `signal` aborts). */
  nextEvent(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#wake.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Appends an event and wakes the streams waiting for one. */
  emit(event: JobEvent["event"], data: Record<string, unknown>): JobEvent {
    const entry = { id: this.events.length + 1, event, data };
    this.events.push(entry);
    const wake = this.#wake;
    this.#wake = [];
    for (const resolve of wake) resolve();
    return entry;
  }

  /** Moves to a terminal status once, records when, and settles. */
  finish(status: "done" | "failed" | "cancelled", data: Record<string, unknown>): void {
    if (this.finished) return;
    this.status = status;
    this.finishedAt = Date.now();
    this.spec = undefined;
    this.emit(status === "failed" ? "error" : status, data);
    this.#settle();
  }
}

/**
 * A FIFO of jobs with one running at a time.
 *
 * @example
 * ```ts
 * const engine = new EngineWorker();
 * const queue = new JobQueue({ run: engine.run });
 * const job = queue.submit({ content: png, styles: [stylePng], options: { iterations: 50 } });
 * await job.settled;
 * ```
 */
export class JobQueue {
  /** The options, defaults filled in. */
  readonly options: Required<JobQueueOptions>;
  readonly #jobs = new Map<string, Job>();
  readonly #waiting: Job[] = [];
  /** Every kept preview in arrival order, for the overall byte budget. */
  #previews: Array<{ job: Job; iteration: number }> = [];
  #imageBytes = 0;
  #running: Job | undefined;
  #closed = false;
  #timer: ReturnType<typeof setInterval>;

  /** An empty queue; it drops expired finished jobs every 30 s until {@linkcode close}. */
  constructor(options: JobQueueOptions) {
    this.options = {
      maxWaiting: 8,
      maxWaitingBytes: 256 * 1024 * 1024,
      timeLimitMs: 30 * 60_000,
      keepFinished: 32,
      keepMs: 30 * 60_000,
      maxImagesPerJob: 100,
      maxImageBytesPerJob: 32 * 1024 * 1024,
      maxImageBytes: 256 * 1024 * 1024,
      basePath: "/v1/jobs",
      ...options,
    };
    this.#timer = setInterval(() => this.prune(), 30_000);
    Deno.unrefTimer(Number(this.#timer));
  }

  /** The running job's count (0 or 1) and how many wait. */
  get counts(): { running: number; waiting: number } {
    return { running: this.#running ? 1 : 0, waiting: this.#waiting.length };
  }

  /** Bytes held: uploaded files of waiting jobs, and kept preview PNGs. */
  get bytes(): { waiting: number; images: number } {
    const waiting = this.#waiting.reduce((n, job) => n + (job.spec ? specBytes(job.spec) : 0), 0);
    return { waiting, images: this.#imageBytes };
  }

  /**
   * Throws the 503/429 Problem {@linkcode submit} would throw for a job of
   * `bytes` now, so a caller can refuse before decoding anything.
   */
  admit(bytes = 0): void {
    if (this.#closed) throw new Problem(503, "the server is shutting down");
    const busy = this.#running !== undefined;
    if (busy && this.#waiting.length >= this.options.maxWaiting) {
      throw new Problem(
        429,
        `the queue is full: 1 job running and ${this.#waiting.length} waiting ` +
          `(at most ${this.options.maxWaiting}); retry later`,
        { type: "queue-full", headers: { "Retry-After": String(this.#retryAfterSeconds()) } },
      );
    }
    const held = this.bytes.waiting;
    if (busy && held + bytes > this.options.maxWaitingBytes) {
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
      throw new Problem(
        429,
        `the waiting jobs hold ${mib(held)} of images; this one's ${mib(bytes)} would pass the ` +
          `server's ${mib(this.options.maxWaitingBytes)}; retry later or send smaller files`,
        { type: "queue-full", headers: { "Retry-After": String(this.#retryAfterSeconds()) } },
      );
    }
  }

  /** Queues a job; throws a 429 Problem (with `Retry-After`) when the queue is full. */
  submit(spec: JobSpec): Job {
    this.prune();
    this.admit(specBytes(spec));
    const job = new Job(spec, this.options.basePath);
    this.#jobs.set(job.id, job);
    this.#waiting.push(job);
    job.emit("status", { status: "queued", position: this.#waiting.length });
    queueMicrotask(() => this.#pump());
    return job;
  }

  /** The job with this id, or `undefined` (never existed, or freed). */
  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  /** Every job still kept (waiting, running or finished), oldest first. */
  list(): Job[] {
    return [...this.#jobs.values()];
  }

  /** Its place in the queue (1 = next), or 0 when not waiting. */
  position(job: Job): number {
    return this.#waiting.indexOf(job) + 1;
  }

  /**
   * Cancels a waiting or running job and waits (up to `waitMs`) until it has
   * stopped; a finished job is removed instead. Returns the job.
   */
  async cancel(job: Job, waitMs = 60_000): Promise<Job> {
    if (job.finished) {
      this.#forget(job);
      return job;
    }
    const waiting = this.#waiting.indexOf(job);
    if (waiting >= 0) {
      this.#waiting.splice(waiting, 1);
      job.finish("cancelled", { status: "cancelled", iteration: job.iteration });
      return job;
    }
    job.controller.abort(new DOMException("job cancelled", "AbortError"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      job.settled,
      new Promise((resolve) => (timer = setTimeout(resolve, waitMs))),
    ]);
    clearTimeout(timer);
    return job;
  }

  /** Cancels everything and waits for the running job to stop. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    for (const job of [...this.#waiting]) await this.cancel(job);
    if (this.#running) await this.cancel(this.#running);
  }

  /** Frees finished jobs older than `keepMs` and beyond `keepFinished` (oldest first). */
  prune(now = Date.now()): void {
    const finished = [...this.#jobs.values()].filter((j) => j.finished)
      .sort((a, b) => a.finishedAt! - b.finishedAt!);
    const excess = finished.length - this.options.keepFinished;
    finished.forEach((job, i) => {
      if (i < excess || now - job.finishedAt! > this.options.keepMs) this.#forget(job);
    });
    this.#previews = this.#previews.filter((p) => p.job.images.has(p.iteration));
  }

  #forget(job: Job): void {
    this.#jobs.delete(job.id);
    for (const png of job.images.values()) this.#imageBytes -= png.length;
    job.images.clear();
  }

  #retryAfterSeconds(): number {
    const job = this.#running;
    if (!job || !job.startedAt || job.iteration === 0) return 30;
    const perIteration = (Date.now() - job.startedAt) / job.iteration;
    const left = perIteration * (job.iterations - job.iteration);
    return Math.max(1, Math.ceil(left / 1000));
  }

  async #pump(): Promise<void> {
    if (this.#running || this.#closed) return;
    const job = this.#waiting.shift();
    if (!job) return;
    this.#running = job;
    try {
      await this.#run(job);
    } finally {
      this.#running = undefined;
      queueMicrotask(() => this.#pump());
    }
  }

  async #run(job: Job): Promise<void> {
    job.status = "running";
    job.startedAt = Date.now();
    job.emit("status", { status: "running" });
    const limit = AbortSignal.timeout(this.options.timeLimitMs);
    const signal = AbortSignal.any([job.controller.signal, limit]);
    try {
      const spec = job.spec!;
      job.spec = undefined; // the runner holds the files until the engine has them
      for await (const step of this.options.run(spec, signal)) {
        if ("tile" in step) {
          job.emit("tile", { ...step, iterations: job.iterations });
          continue;
        }
        job.iteration = step.iteration;
        job.iterations = step.iterations;
        job.losses = step.losses;
        const progress = {
          iteration: step.iteration,
          iterations: step.iterations,
          losses: step.losses,
          elapsedMs: step.elapsedMs,
        };
        if (step.png) {
          this.#keepImage(job, step.iteration, step.png);
          job.emit("iteration", { ...progress, url: job.url(`/images/${step.iteration}`) });
        } else {
          job.emit("progress", progress);
        }
        signal.throwIfAborted();
      }
      signal.throwIfAborted();
      const latest = job.latestImage;
      job.finish("done", {
        status: "done",
        iteration: job.iteration,
        iterations: job.iterations,
        losses: job.losses,
        url: latest === undefined ? null : job.url(`/images/${latest}`),
        elapsedMs: Date.now() - job.startedAt,
      });
    } catch (error) {
      if (job.controller.signal.aborted) {
        job.finish("cancelled", { status: "cancelled", iteration: job.iteration });
      } else {
        const problem = limit.aborted
          ? new Problem(
            503,
            `the job ran longer than this server's limit of ${
              Math.round(this.options.timeLimitMs / 1000)
            } s and was stopped at iteration ${job.iteration} of ${job.iterations}; ` +
              "try fewer iterations or a smaller maxSize",
            { type: "job-time-limit" },
          )
          : toProblem(error);
        if (problem.status >= 500) {
          // The engine's own failures are already explained; anything else gets its stack.
          const what = error instanceof Problem || limit.aborted ? problem.body.detail : error;
          console.error(`restyle job ${job.id} failed:`, what);
        }
        job.error = problem.body;
        job.finish("failed", { ...problem.body });
      }
    }
  }

  /** Keeps a preview within the per-job count and byte budgets and the overall byte budget. */
  #keepImage(job: Job, iteration: number, png: Uint8Array): void {
    const previous = job.images.get(iteration);
    if (previous) this.#imageBytes -= previous.length;
    job.images.set(iteration, png);
    this.#imageBytes += png.length;
    this.#previews.push({ job, iteration });
    if (this.#previews.length > 4 * this.options.maxImagesPerJob * this.options.keepFinished) {
      this.#previews = this.#previews.filter((p) => p.job.images.has(p.iteration));
    }
    const drop = (j: Job, key: number) => {
      const bytes = j.images.get(key);
      if (!bytes) return;
      j.images.delete(key);
      this.#imageBytes -= bytes.length;
    };
    const jobBytes = () => [...job.images.values()].reduce((n, b) => n + b.length, 0);
    for (const key of [...job.images.keys()]) {
      if (job.images.size <= 1) break; // the latest stays
      if (
        job.images.size <= this.options.maxImagesPerJob &&
        jobBytes() <= this.options.maxImageBytesPerJob
      ) break;
      drop(job, key);
    }
    if (this.#imageBytes <= this.options.maxImageBytes) return;
    // Over all jobs: oldest previews first, each job's latest only when nothing else is left.
    const live = this.#previews.filter((p) => p.job.images.has(p.iteration));
    for (const spareLatest of [true, false]) {
      for (const p of live) {
        if (this.#imageBytes <= this.options.maxImageBytes) break;
        if (spareLatest && p.job.latestImage === p.iteration) continue;
        if (p.job === job && p.iteration === iteration) continue; // the one just made
        drop(p.job, p.iteration);
      }
    }
    this.#previews = live.filter((p) => p.job.images.has(p.iteration));
  }
}
