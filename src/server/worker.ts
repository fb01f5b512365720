/**
 * @module The engine in a supervised child process: whatever it does, the HTTP process serves on.
 *
 * {@linkcode EngineWorker} starts `worker_main.ts` as a child `deno` process
 * and runs jobs on it, one at a time, as a {@linkcode JobRunner}. A child
 * process, not a Worker thread: a wasm "memory access out of bounds", a kernel
 * spinning forever or an allocation that exhausts memory take down only the
 * child, which is killed (SIGKILL always works) and replaced, while the HTTP
 * process's event loop never ran any of it — so it keeps answering, and its
 * SIGTERM/SIGINT handlers keep working.
 *
 * Supervision, per job: a cancel is passed on and, if the job has not stopped
 * within `cancelGraceMs`, the process is killed; a job that reports no
 * progress for `hangMs` is killed as hung; a process whose resident memory
 * passes `maxRssBytes` is killed as out of memory; a process that exits on its
 * own has crashed. Each fails the job with a problem saying what happened and
 * what to try, and a fresh process starts at once, so the queue goes on.
 */
import type { BackendInfo } from "../backend.ts";
import { privateRuntimeDir, repoPath } from "../config.ts";
import type { JobRunner, JobSpec, RunnerStep, RunnerTile } from "./jobs.ts";
import { Problem } from "./problem.ts";
import {
  encodeFrame,
  type Frame,
  type FromWorker,
  packImages,
  readFrames,
  type ToWorker,
  type WorkerStats,
} from "./worker_protocol.ts";

export type { WorkerStats };

/** Options of {@linkcode EngineWorker}. */
export interface EngineOptions {
  /** A running job that reports no step for this long is killed as hung. Default 180 s. */
  hangMs?: number;
  /**
   * How long a cancelled job may take to stop before its process is killed: this, or twice the
   * job's longest step so far when that is longer (a step is not interrupted). Default 2 s.
   */
  cancelGraceMs?: number;
  /** Resident memory of the engine process beyond which it is killed. Default half the RAM, at most 16 GiB. */
  maxRssBytes?: number;
  /** Extra environment for the engine process (e.g. `RESTYLE_BACKEND`). */
  env?: Record<string, string>;
  /** Honour {@linkcode EngineWorker.injectFailure} (tests only). Default false. */
  testHooks?: boolean;
  /** Where the engine's own log lines go. Default `console.error`. */
  log?: (line: string) => void;
}

/** Where the engine is. */
export type EngineState = "starting" | "ready" | "failed";

/** What `/v1/health` reports about the engine. */
export interface EngineStatus {
  /** `starting` until the backend and default network are ready; `failed` when it cannot start. */
  state: EngineState;
  /** The backend the engine runs on, once ready. */
  backend?: BackendInfo;
  /** How the backend was picked, when measured. */
  backendChoice?: { picked: string; timings: Record<string, number>; cached: boolean };
  /** Why the engine could not start, when `failed`. */
  error?: string;
  /** Engine processes started after the first (crashes, hangs, kills). */
  restarts: number;
  /** Milliseconds the current process took to become ready. */
  startMs?: number;
}

type Outcome = "crashed" | "hung" | "out-of-memory" | "cancelled";

interface Current {
  id: string;
  /** Steps and the end, as they arrive. */
  inbox: Array<Frame<FromWorker>>;
  wake?: () => void;
  /** Set when the process died or was killed during the job. */
  lost?: { outcome: Outcome; detail: string };
  lastSeen: number;
  /** The longest time between two messages of this job, ms. */
  longestStep: number;
}

interface Proc {
  child: Deno.ChildProcess;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  ready: boolean;
  current?: Current;
  /** Why we killed it, when we did. */
  killedFor?: { outcome: Outcome; detail: string };
  exited: boolean;
  statsWaiters: Array<(stats: WorkerStats) => void>;
}

const GiB = 1024 ** 3;
const XDG_LINE = /XDG_RUNTIME_DIR is invalid or not set/;

/**
 * A supervised engine process.
 *
 * @example
 * ```ts
 * const engine = new EngineWorker();
 * const queue = new JobQueue({ run: engine.run });
 * // ... serve; /v1/health reports engine.status()
 * await engine.close();
 * ```
 */
export class EngineWorker {
  readonly #options: Required<Omit<EngineOptions, "log">> & { log: (line: string) => void };
  #proc: Proc | undefined;
  #status: EngineStatus = { state: "starting", restarts: 0 };
  #readyWaiters: Array<() => void> = [];
  #started = 0;
  #startFailures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #xdgDir: string | undefined;
  #xdgExplained = false;

  /** Starts the engine process at once; {@linkcode status} says `starting` until it is ready. */
  constructor(options: EngineOptions = {}) {
    this.#options = {
      hangMs: 180_000,
      cancelGraceMs: 2_000,
      maxRssBytes: defaultMaxRss(),
      env: {},
      testHooks: false,
      log: (line) => console.error(line),
      ...options,
    };
    this.#spawn();
  }

  /** The engine's state, backend and restarts. */
  status(): EngineStatus {
    return { ...this.#status };
  }

  /** PID of the current engine process (tests use it to watch it die). */
  get pid(): number | undefined {
    return this.#proc?.child.pid;
  }

  /** Resolves once the engine is ready (or rejects when it failed to start). */
  ready(signal?: AbortSignal): Promise<void> {
    let onAbort = () => {};
    return new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.#closed) return reject(new Problem(503, "the server is shutting down"));
        if (this.#status.state === "ready") return resolve();
        if (this.#status.state === "failed") return reject(this.#startProblem());
        this.#readyWaiters.push(check);
      };
      onAbort = () => reject(signal!.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      check();
      // Removed once settled: a job's signal includes its time limit (`AbortSignal.timeout`),
      // and Deno keeps the process alive until such a signal fires while it has a listener.
    }).finally(() => signal?.removeEventListener("abort", onAbort));
  }

  /** The engine process's tensor count and memory, asked of it now. */
  async stats(): Promise<WorkerStats> {
    await this.ready();
    const proc = this.#proc!;
    const answer = new Promise<WorkerStats>((resolve) => proc.statsWaiters.push(resolve));
    await this.#send(proc, { type: "stats" });
    return await answer;
  }

  /**
   * Test hook: the running job (or the next one) makes its process exit, hang
   * or throw a wasm RuntimeError. Needs `testHooks: true`.
   */
  async injectFailure(how: "exit" | "hang" | "abort"): Promise<void> {
    if (!this.#options.testHooks) throw new Error("injectFailure needs testHooks: true");
    await this.ready();
    await this.#send(this.#proc!, { type: "crash", how });
  }

  /** Runs one job on the engine process; see {@linkcode JobRunner}. */
  readonly run: JobRunner = (spec, signal) => this.#run(spec, signal);

  /** Stops the engine process (SIGTERM, then SIGKILL after 1 s). Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const wake of this.#readyWaiters.splice(0)) wake();
    const proc = this.#proc;
    if (proc && !proc.exited) {
      this.#kill(proc, "SIGTERM");
      const timer = setTimeout(() => this.#kill(proc, "SIGKILL"), 1000);
      await proc.child.status;
      clearTimeout(timer);
    }
    if (this.#xdgDir) await Deno.remove(this.#xdgDir, { recursive: true }).catch(() => {});
  }

  async *#run(spec: JobSpec, signal: AbortSignal): AsyncGenerator<RunnerStep | RunnerTile> {
    await this.ready(signal);
    const proc = this.#proc!;
    const current: Current = {
      id: crypto.randomUUID(),
      inbox: [],
      lastSeen: Date.now(),
      longestStep: 0,
    };
    proc.current = current;
    const packed = packImages(spec);
    const timers: Array<ReturnType<typeof setInterval>> = [];
    const onAbort = () => {
      void this.#send(proc, { type: "cancel", id: current.id });
      const grace = Math.max(this.#options.cancelGraceMs, 2 * current.longestStep);
      timers.push(setTimeout(() => {
        this.#lose(proc, "cancelled", `the job did not stop within ${grace} ms of its cancel`);
      }, grace));
    };
    try {
      const job: ToWorker = {
        type: "job",
        id: current.id,
        options: spec.options,
        images: packed.lengths,
      };
      await this.#send(proc, job, packed.payload);
      packed.payload = new Uint8Array(); // the engine has the files now
      signal.addEventListener("abort", onAbort, { once: true });
      if (signal.aborted) onAbort();
      timers.push(setInterval(() => this.#watch(proc, current), 500));
      while (true) {
        const frame = current.inbox.shift();
        if (!frame) {
          if (current.lost) throw this.#lostProblem(current.lost, signal);
          await new Promise<void>((resolve) => (current.wake = resolve));
          continue;
        }
        const message = frame.header;
        if (message.type === "tile") {
          yield { iteration: message.iteration, tile: message.tile, tiles: message.tiles };
        } else if (message.type === "step") {
          yield {
            iteration: message.iteration,
            iterations: message.iterations,
            losses: message.losses,
            elapsedMs: message.elapsedMs,
            ...(message.image ? { png: frame.payload } : {}),
          };
        } else if (message.type === "end") {
          if (message.outcome === "done") return;
          if (message.outcome === "cancelled") throw signal.reason;
          if (message.fatal) this.#replace(proc, `the job failed: ${message.problem?.detail}`);
          const body = message.problem!;
          const { status, detail, type, errors, title: _t, ...extra } = body;
          throw new Problem(
            status,
            message.fatal
              ? `the engine failed while running this job (${detail}); it was restarted. ` +
                "Try a smaller maxSize or fewer scales"
              : detail,
            {
              type: message.fatal ? "engine-failed" : type.replace(/^\/problems\//, ""),
              errors,
              extra: message.fatal ? {} : extra,
            },
          );
        }
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      timers.forEach(clearTimeout);
      if (proc.current === current) proc.current = undefined;
    }
  }

  /** Watchdog tick during a job: no progress for `hangMs`, or memory over `maxRssBytes`. */
  async #watch(proc: Proc, current: Current): Promise<void> {
    if (proc.current !== current || current.lost) return;
    const quiet = Date.now() - current.lastSeen;
    if (quiet > this.#options.hangMs) {
      this.#lose(
        proc,
        "hung",
        `the engine made no progress for ${Math.round(quiet / 1000)} s (the limit is ` +
          `${Math.round(this.#options.hangMs / 1000)} s) and was restarted. ` +
          "Try a smaller maxSize, or another network",
      );
      return;
    }
    const rss = await residentBytes(proc.child.pid);
    if (rss !== undefined && rss > this.#options.maxRssBytes && !current.lost) {
      this.#lose(
        proc,
        "out-of-memory",
        `the engine ran out of memory (${(rss / GiB).toFixed(1)} GiB, over this server's ` +
          `${(this.#options.maxRssBytes / GiB).toFixed(1)} GiB) and was restarted. ` +
          "Try a smaller maxSize, fewer scales or fewer style images",
      );
    }
  }

  /** Ends the current job of `proc` with `outcome`, and replaces the process. */
  #lose(proc: Proc, outcome: Outcome, detail: string): void {
    const current = proc.current;
    if (current && !current.lost) {
      current.lost = { outcome, detail };
      current.wake?.();
    }
    proc.killedFor ??= { outcome, detail };
    this.#replace(proc, detail);
  }

  #lostProblem(lost: { outcome: Outcome; detail: string }, signal: AbortSignal): unknown {
    if (lost.outcome === "cancelled" || signal.aborted) return signal.reason;
    const type = lost.outcome === "crashed" ? "engine-crashed" : `engine-${lost.outcome}`;
    return new Problem(500, lost.detail, { type });
  }

  /** Kills `proc` (if it is still the current one) and starts a fresh process. */
  #replace(proc: Proc, why: string): void {
    if (this.#proc !== proc) return;
    this.#options.log(`restyle: engine process ${proc.child.pid} replaced: ${why}`);
    this.#kill(proc, "SIGKILL");
    this.#proc = undefined;
    this.#status = { state: "starting", restarts: this.#status.restarts + 1 };
    if (!this.#closed) this.#spawn();
  }

  #kill(proc: Proc, signal: Deno.Signal): void {
    if (proc.exited) return;
    try {
      proc.child.kill(signal);
    } catch {
      // already gone
    }
  }

  #spawn(): void {
    const env: Record<string, string> = { ...this.#options.env };
    if (this.#options.testHooks) env.RESTYLE_WORKER_TEST_HOOKS = "1";
    const xdg = this.#xdgRuntimeDir();
    if (xdg) env.XDG_RUNTIME_DIR = xdg;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `--config=${repoPath("deno.json")}`,
        "--v8-flags=--expose-gc",
        repoPath("src/server/worker_main.ts"),
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      env,
    }).spawn();
    const proc: Proc = {
      child,
      writer: child.stdin.getWriter(),
      ready: false,
      exited: false,
      statsWaiters: [],
    };
    this.#proc = proc;
    this.#started = Date.now();
    void this.#pipeLog(proc);
    void this.#read(proc);
    void child.status.then((status) => this.#exited(proc, status));
  }

  /**
   * Without a desktop session, the WebGPU adapter probe (Vulkan's Wayland
   * support) prints "XDG_RUNTIME_DIR is invalid or not set" on every probe:
   * the engine gets a private, empty runtime directory instead ({@linkcode privateRuntimeDir}).
   */
  #xdgRuntimeDir(): string | undefined {
    return this.#xdgDir ??= privateRuntimeDir();
  }

  async #read(proc: Proc): Promise<void> {
    try {
      for await (const frame of readFrames<FromWorker>(proc.child.stdout)) {
        this.#dispatch(proc, frame);
      }
    } catch (error) {
      this.#lose(proc, "crashed", `the engine's channel broke (${(error as Error).message})`);
    }
  }

  #dispatch(proc: Proc, frame: Frame<FromWorker>): void {
    const message = frame.header;
    switch (message.type) {
      case "ready":
        if (this.#proc !== proc) return;
        proc.ready = true;
        this.#startFailures = 0;
        this.#status = {
          state: "ready",
          backend: message.backend,
          ...(message.backendChoice ? { backendChoice: message.backendChoice } : {}),
          restarts: this.#status.restarts,
          startMs: Date.now() - this.#started,
        };
        for (const wake of this.#readyWaiters.splice(0)) wake();
        return;
      case "start-failed":
        this.#status = { ...this.#status, state: "failed", error: message.message };
        return;
      case "stats":
        proc.statsWaiters.shift()?.(message.stats);
        return;
      default: {
        const current = proc.current;
        if (!current || current.id !== message.id) return;
        const now = Date.now();
        current.longestStep = Math.max(current.longestStep, now - current.lastSeen);
        current.lastSeen = now;
        current.inbox.push(frame);
        current.wake?.();
      }
    }
  }

  #exited(proc: Proc, status: Deno.CommandStatus): void {
    proc.exited = true;
    for (const resolve of proc.statsWaiters.splice(0)) {
      resolve({ numTensors: -1, tensorBytes: -1, rss: -1 });
    }
    const how = status.signal
      ? `was killed by ${status.signal}`
      : `exited with code ${status.code}`;
    if (proc.current && !proc.current.lost) {
      const oom = status.signal === "SIGKILL" && !proc.killedFor;
      proc.current.lost = {
        outcome: "crashed",
        detail: `the engine process ${how}${
          oom ? " (most likely out of memory)" : ""
        } while running this job, and was restarted. Try a smaller maxSize or fewer scales`,
      };
      proc.current.wake?.();
    }
    if (this.#proc !== proc || this.#closed) return;
    // Died on its own: while starting (count towards giving up) or between jobs.
    this.#proc = undefined;
    if (!proc.ready) {
      this.#startFailures += 1;
      const error = this.#status.error ?? `the engine process ${how} while starting`;
      this.#status = { ...this.#status, state: "failed", error };
      for (const wake of this.#readyWaiters.splice(0)) wake();
      const delay = Math.min(60_000, 1000 * 4 ** (this.#startFailures - 1));
      this.#retryTimer = setTimeout(() => {
        if (this.#closed) return;
        this.#status = { state: "starting", restarts: this.#status.restarts + 1 };
        this.#spawn();
      }, delay);
      return;
    }
    this.#options.log(`restyle: engine process ${proc.child.pid} ${how}; starting a fresh one`);
    this.#status = { state: "starting", restarts: this.#status.restarts + 1 };
    this.#spawn();
  }

  async #pipeLog(proc: Proc): Promise<void> {
    let buffer = "";
    const decoder = new TextDecoder();
    const emit = (line: string) => {
      if (XDG_LINE.test(line)) {
        if (this.#xdgExplained) return;
        this.#xdgExplained = true;
        line = "restyle: note: no desktop session (XDG_RUNTIME_DIR unset); " +
          "the WebGPU probe says so, harmlessly";
      }
      if (line.trim()) this.#options.log(line);
    };
    try {
      for await (const chunk of proc.child.stderr) {
        buffer += decoder.decode(chunk, { stream: true });
        const lines = buffer.split("\n");
        buffer = lines.pop()!;
        lines.forEach(emit);
      }
    } catch {
      // the process is gone
    }
    emit(buffer);
  }

  async #send(proc: Proc, message: ToWorker, payload?: Uint8Array): Promise<void> {
    if (proc.exited) return;
    try {
      await proc.writer.write(encodeFrame(message, payload));
    } catch {
      // the process died; #exited reports it
    }
  }

  #startProblem(): Problem {
    return new Problem(
      503,
      `the engine could not start (${this.#status.error ?? "unknown reason"}); ` +
        "the server retries on its own: see its log, and try again in a minute",
      { type: "engine-unavailable", headers: { "Retry-After": "60" } },
    );
  }
}

function defaultMaxRss(): number {
  try {
    return Math.min(16 * GiB, Deno.systemMemoryInfo().total / 2);
  } catch {
    return 8 * GiB;
  }
}

/** VmRSS of a process in bytes (Linux), or undefined where /proc cannot tell. */
async function residentBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return kb ? Number(kb[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
