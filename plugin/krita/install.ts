/**
 * @module Installs the Restyle Krita plug-in into the user's Krita resource folder and enables it.
 *
 * Krita 5 loads a Python plug-in from `<resources>/pykrita/`: a `NAME.desktop`
 * file beside a `NAME/` package. The resource folder is
 * `~/.local/share/krita` on Linux (`$XDG_DATA_HOME/krita` when set),
 * `~/Library/Application Support/krita` on macOS and `%APPDATA%\krita` on
 * Windows. Krita only runs the plug-ins enabled in its Python Plugin Manager,
 * which it records in `kritarc` as `enable_NAME=true` in the `[python]` group;
 * `kritarc` is `~/.config/kritarc` on Linux (`$XDG_CONFIG_HOME/kritarc`),
 * `~/Library/Preferences/kritarc` on macOS and `%LOCALAPPDATA%\kritarc` on
 * Windows. The package's HTTP client is the one the GIMP plug-in uses too
 * (`plugin/common/restyle_client.py`), copied into it and told where this Restyle
 * folder keeps its token (`install.json`).
 *
 * ```sh
 * deno task install-krita                          # the user's resource folder and kritarc
 * deno task install-krita --resource-dir DIR       # into DIR/pykrita/
 * deno task install-krita --kritarc FILE           # enable it in FILE
 * ```
 */
import { installClient } from "../common/install.ts";

const PLUGIN = "restyle";
const SOURCE = new URL("./", import.meta.url);

type Env = (name: string) => string | undefined;
const processEnv: Env = (name) => Deno.env.get(name);

function required(env: Env, name: string, flag: string): string {
  const value = env(name);
  if (!value) throw new Error(`${name} is not set: pass ${flag}`);
  return value;
}

/** Krita 5's per-user resource folder (the one holding `pykrita/`) for this platform. */
export function kritaResourceDir(env: Env = processEnv, os: string = Deno.build.os): string {
  if (os === "windows") return `${required(env, "APPDATA", "--resource-dir")}\\krita`;
  const home = () => required(env, "HOME", "--resource-dir");
  if (os === "darwin") return `${home()}/Library/Application Support/krita`;
  return `${env("XDG_DATA_HOME") || `${home()}/.local/share`}/krita`;
}

/** Krita 5's settings file (`kritarc`) for this platform. */
export function kritarcPath(env: Env = processEnv, os: string = Deno.build.os): string {
  if (os === "windows") return `${required(env, "LOCALAPPDATA", "--kritarc")}\\kritarc`;
  const home = () => required(env, "HOME", "--kritarc");
  if (os === "darwin") return `${home()}/Library/Preferences/kritarc`;
  return `${env("XDG_CONFIG_HOME") || `${home()}/.config`}/kritarc`;
}

/**
 * `kritarc` text with `enable_<name>=true` (default: `enable_restyle=true`) in
 * its `[python]` group, added or replaced; every other line is kept as it was.
 *
 * @example
 * ```ts
 * enablePlugin("[python]\nenable_scripter=true\n");
 * // "[python]\nenable_restyle=true\nenable_scripter=true\n"
 * ```
 */
export function enablePlugin(kritarc: string, name: string = PLUGIN): string {
  const key = `enable_${name}`;
  const lines = kritarc.split(/\r?\n/);
  if (lines.at(-1) === "") lines.pop();
  const start = lines.findIndex((line) => line.trim() === "[python]");
  if (start < 0) {
    if (lines.length > 0 && lines.at(-1)!.trim() !== "") lines.push("");
    lines.push("[python]", `${key}=true`);
    return lines.join("\n") + "\n";
  }
  let end = lines.findIndex((line, i) => i > start && line.trimStart().startsWith("["));
  if (end < 0) end = lines.length;
  const kept = lines.filter((line, i) =>
    i <= start || i >= end || line.split("=")[0].trim() !== key
  );
  kept.splice(start + 1, 0, `${key}=true`);
  return kept.join("\n") + "\n";
}

/** Where {@linkcode installKritaPlugin} put the plug-in. */
export interface KritaInstall {
  /** The installed `pykrita/restyle.desktop`. */
  desktop: string;
  /** The installed `pykrita/restyle/` package. */
  package: string;
  /** The `kritarc` that now enables the plug-in, or null when it was left alone. */
  kritarc: string | null;
}

/**
 * Copies `restyle.desktop` and the `restyle/` package, with the shared
 * `restyle_client.py` in it, to `<resourceDir>/pykrita/` (replacing an older copy), records
 * where the server's `--generate-token` keeps the token (`tokenFile`, default this Restyle
 * folder's) and enables the plug-in in `kritarc` (`null`: leave
 * it alone).
 *
 * @example
 * ```ts
 * await installKritaPlugin("/tmp/khome/.local/share/krita", "/tmp/khome/.config/kritarc");
 * ```
 */
export async function installKritaPlugin(
  resourceDir: string = kritaResourceDir(),
  kritarc: string | null = kritarcPath(),
  tokenFile?: string,
): Promise<KritaInstall> {
  const pykrita = `${resourceDir}/pykrita`;
  const target = `${pykrita}/${PLUGIN}`;
  await Deno.mkdir(pykrita, { recursive: true });
  await Deno.remove(target, { recursive: true }).catch((error) => {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  });
  await Deno.mkdir(target);
  for await (const entry of Deno.readDir(new URL(`${PLUGIN}/`, SOURCE))) {
    if (entry.isFile && /\.(py|json)$/.test(entry.name)) {
      await Deno.copyFile(new URL(`${PLUGIN}/${entry.name}`, SOURCE), `${target}/${entry.name}`);
    }
  }
  await installClient(target, tokenFile);
  await Deno.copyFile(new URL(`${PLUGIN}.desktop`, SOURCE), `${pykrita}/${PLUGIN}.desktop`);
  if (kritarc !== null) {
    const text = await Deno.readTextFile(kritarc).catch((error) => {
      if (error instanceof Deno.errors.NotFound) return "";
      throw error;
    });
    await Deno.mkdir(kritarc.replace(/[\\/][^\\/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(kritarc, enablePlugin(text));
  }
  return { desktop: `${pykrita}/${PLUGIN}.desktop`, package: target, kritarc };
}

const USAGE = "usage: deno task install-krita [--resource-dir DIR] [--kritarc FILE]";

function parseArgs(args: string[]): { resourceDir?: string; kritarc?: string } {
  const parsed: { resourceDir?: string; kritarc?: string } = {};
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    if (flag === "--help" || flag === "-h") {
      console.log(USAGE);
      Deno.exit(0);
    }
    const key = { "--resource-dir": "resourceDir", "--kritarc": "kritarc" }[flag] as
      | "resourceDir"
      | "kritarc"
      | undefined;
    if (!key) throw new Error(`unexpected argument: ${args[i]}\n${USAGE}`);
    const value = inline ?? args[++i];
    if (!value) throw new Error(`${flag} needs a value\n${USAGE}`);
    parsed[key] = value;
  }
  return parsed;
}

if (import.meta.main) {
  try {
    const args = parseArgs(Deno.args);
    const done = await installKritaPlugin(
      args.resourceDir ?? kritaResourceDir(),
      args.kritarc ?? kritarcPath(),
    );
    console.log(`Installed the Restyle plug-in: ${done.package}`);
    console.log(`Enabled it in ${done.kritarc} ([python] enable_${PLUGIN}=true).`);
    console.log(
      "Restart Krita, then show the docker with Settings > Dockers > Restyle " +
        "(start the server first: deno task serve).",
    );
  } catch (error) {
    console.error(`install-krita: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
