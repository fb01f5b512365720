/**
 * @module Where Restyle keeps and finds its files.
 *
 * Every command honours the same environment variables, so a setting made once
 * (in a shell profile, or by `.ci/run`) reaches the CLI, the server and tests:
 *
 * - `RESTYLE_MIRROR`: a local directory laid out like the public sources
 *   (`weights/<network>/...`, `images/...`) to copy from instead of downloading.
 * - `RESTYLE_HOME`: where fetched weights and styles live (default: the repo).
 * - `RESTYLE_BACKEND`: force a tfjs backend (`webgpu`, `wasm`, `cpu`).
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

/** The local mirror named by `RESTYLE_MIRROR`, if any. */
export function mirrorDir(): string | undefined {
  return env("RESTYLE_MIRROR");
}

/** The backend forced by `RESTYLE_BACKEND`, if any. */
export function backendOverride(): string | undefined {
  return env("RESTYLE_BACKEND");
}

/** Path of a file shipped in the repository (manifests, plug-ins, pages). */
export function repoPath(relative: string): string {
  return toPath(new URL(relative, repoRoot));
}
