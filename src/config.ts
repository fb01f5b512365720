/**
 * @module The environment: every variable Restyle reads is read here, and listed in the
 * README's settings table (a test checks both).
 *
 * Every command honours the same variables, so a setting made once (in a shell
 * profile, or by `.ci/run`) reaches the CLI, the server and tests:
 *
 * - `RESTYLE_MIRROR`: a local directory laid out like the public sources
 *   (`weights/<network>/...`, `images/...`) to copy from instead of downloading.
 * - `RESTYLE_HOME`: where fetched weights and styles live (default: the repo);
 *   `RESTYLE_DATA`: where data lives (default `<home>/data`).
 * - `RESTYLE_BACKEND`: force a backend (`webgpu`, `onnx`, `wasm`, `cpu`).
 * - `RESTYLE_WASM_THREADS`, `RESTYLE_ONNX_THREADS`: threads of those backends.
 * - `RESTYLE_FAST_BACKWARD=0`: tfjs's own gradients instead of the fast kernels.
 * - `RESTYLE_TOKEN`: the bearer token the server requires.
 * - `RESTYLE_WORKER_TEST_HOOKS=1`: the engine process accepts injected failures (tests).
 * - `XDG_RUNTIME_DIR`: when unset, the engine process and the CLI get a private one.
 */

const repoRoot = new URL("../", import.meta.url);

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: behave as if unset
  }
}

function toPath(url: URL): string {
  return decodeURIComponent(url.pathname).replace(/\/$/, "");
}

/** Root directory holding `weights/` and `data/`. */
export function homeDir(): string {
  return env("RESTYLE_HOME") ?? toPath(repoRoot);
}

/** Directory holding converted weights: `<home>/weights/<network>/`. */
export function weightsDir(): string {
  return `${homeDir()}/weights`;
}

/** Directory for fetched styles, user styles and other state. */
export function dataDir(): string {
  return env("RESTYLE_DATA") ?? `${homeDir()}/data`;
}

/**
 * Where `--generate-token` keeps the token: `<data dir>/token` (mode 0600). The plug-in
 * installers record it, so the GIMP and Krita plug-ins read it from there.
 */
export function defaultTokenFile(): string {
  return `${dataDir()}/token`;
}

/** The local mirror named by `RESTYLE_MIRROR`, if any. */
export function mirrorDir(): string | undefined {
  return env("RESTYLE_MIRROR");
}

/** The backend forced by `RESTYLE_BACKEND`, if any. */
export function backendOverride(): string | undefined {
  return env("RESTYLE_BACKEND");
}

/**
 * A whole number of threads, at least 1, from `name` (`RESTYLE_WASM_THREADS`,
 * `RESTYLE_ONNX_THREADS`); `undefined` when unset. Anything else throws, naming it.
 */
export function threadsSetting(name: string): number | undefined {
  const text = env(name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${name} must be a whole number of at least 1, got "${text}"`);
  }
  return n;
}

/** False when `RESTYLE_FAST_BACKWARD` is `0`, `false`, `off` or `no`; true otherwise. */
export function fastBackwardSetting(): boolean {
  const value = env("RESTYLE_FAST_BACKWARD");
  return value === undefined || !["0", "false", "off", "no"].includes(value.toLowerCase());
}

/** The bearer token `RESTYLE_TOKEN` names, if any. */
export function tokenSetting(): string | undefined {
  return env("RESTYLE_TOKEN");
}

/** Whether `RESTYLE_WORKER_TEST_HOOKS=1` lets tests inject failures into the engine process. */
export function workerTestHooks(): boolean {
  return env("RESTYLE_WORKER_TEST_HOOKS") === "1";
}

/** Whether `XDG_RUNTIME_DIR` is set (a desktop session's runtime directory). */
export function hasXdgRuntimeDir(): boolean {
  return env("XDG_RUNTIME_DIR") !== undefined;
}

/**
 * A fresh, private (mode 0700), empty runtime directory when `XDG_RUNTIME_DIR` is unset;
 * `undefined` when it is set. Without a desktop session, the WebGPU adapter probe (Vulkan's
 * Wayland support) prints "XDG_RUNTIME_DIR is invalid or not set" on every probe: a process
 * that probes gets one of these instead (the engine process in its environment, the CLI
 * through {@linkcode usePrivateRuntimeDir}). The caller removes it.
 */
export function privateRuntimeDir(): string | undefined {
  if (hasXdgRuntimeDir()) return undefined;
  const dir = Deno.makeTempDirSync({ prefix: "restyle-runtime-" });
  Deno.chmodSync(dir, 0o700);
  return dir;
}

/**
 * Gives this process a {@linkcode privateRuntimeDir} as its `XDG_RUNTIME_DIR` when it has
 * none; call it before the first WebGPU probe. Returns what undoes it (removes the directory).
 *
 * @example
 * ```ts
 * const restore = usePrivateRuntimeDir();
 * try {
 *   await initBackend(); // probes WebGPU quietly
 * } finally {
 *   restore();
 * }
 * ```
 */
export function usePrivateRuntimeDir(): () => void {
  const dir = privateRuntimeDir();
  if (!dir) return () => {};
  Deno.env.set("XDG_RUNTIME_DIR", dir);
  return () => {
    Deno.env.delete("XDG_RUNTIME_DIR");
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  };
}

/** Path of a file shipped in the repository (manifests, plug-ins, pages). */
export function repoPath(relative: string): string {
  return toPath(new URL(relative, repoRoot));
}
