/**
 * @module Installs the Restyle GIMP 3 plug-in into the user's GIMP plug-in folder.
 *
 * GIMP 3.0 loads a Python plug-in from `<config>/plug-ins/<name>/<name>.py`
 * when the file is executable. The config folder is `~/.config/GIMP/3.0` on
 * Linux (`$XDG_CONFIG_HOME/GIMP/3.0` when set), `~/Library/Application
 * Support/GIMP/3.0` on macOS and `%APPDATA%\GIMP\3.0` on Windows.
 *
 * The plug-in is `restyle.py` with its `fields.json`, and the HTTP client it shares
 * with the Krita plug-in (`plugin/common/restyle_client.py`) beside them, told where
 * this Restyle folder keeps its token (`install.json`).
 *
 * ```sh
 * deno task install-gimp                      # into the user's GIMP 3.0 folder
 * deno task install-gimp --config-dir DIR     # into DIR/plug-ins/restyle/
 * ```
 */
import { installClient } from "../common/install.ts";

const PLUGIN = "restyle";
const SOURCE = new URL(`./${PLUGIN}/`, import.meta.url);
/** The plug-in's files: its code, and its option fields and built-in styles. */
const FILES = [`${PLUGIN}.py`, "fields.json"];

/** GIMP 3.0's per-user configuration folder for this platform and environment. */
export function gimpConfigDir(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  os: string = Deno.build.os,
): string {
  if (os === "windows") {
    const appData = env("APPDATA");
    if (!appData) throw new Error("APPDATA is not set: pass --config-dir");
    return `${appData}\\GIMP\\3.0`;
  }
  const home = env("HOME");
  if (os === "darwin") {
    if (!home) throw new Error("HOME is not set: pass --config-dir");
    return `${home}/Library/Application Support/GIMP/3.0`;
  }
  const xdg = env("XDG_CONFIG_HOME");
  if (xdg) return `${xdg}/GIMP/3.0`;
  if (!home) throw new Error("HOME is not set: pass --config-dir");
  return `${home}/.config/GIMP/3.0`;
}

/**
 * Copies `restyle.py` (executable), `fields.json` and the shared `restyle_client.py` to
 * `<configDir>/plug-ins/restyle/`, records where the server's `--generate-token` keeps
 * the token (`tokenFile`, default this Restyle folder's), and returns the installed
 * `restyle.py`.
 *
 * @example
 * ```ts
 * const path = await installGimpPlugin("/tmp/gimp-home/.config/GIMP/3.0");
 * ```
 */
export async function installGimpPlugin(
  configDir: string = gimpConfigDir(),
  tokenFile?: string,
): Promise<string> {
  const folder = `${configDir}/plug-ins/${PLUGIN}`;
  const target = `${folder}/${PLUGIN}.py`;
  await Deno.mkdir(folder, { recursive: true });
  for (const file of FILES) await Deno.copyFile(new URL(file, SOURCE), `${folder}/${file}`);
  await installClient(folder, tokenFile);
  if (Deno.build.os !== "windows") await Deno.chmod(target, 0o755);
  return target;
}

function parseArgs(args: string[]): { configDir?: string } {
  const usage = "usage: deno task install-gimp [--config-dir DIR]";
  if (args.length === 0) return {};
  if (args[0] === "--help" || args[0] === "-h") {
    console.log(usage);
    Deno.exit(0);
  }
  if (args[0] === "--config-dir" && args.length === 2) return { configDir: args[1] };
  if (args[0].startsWith("--config-dir=") && args.length === 1) {
    return { configDir: args[0].slice("--config-dir=".length) };
  }
  throw new Error(`unexpected arguments: ${args.join(" ")}\n${usage}`);
}

if (import.meta.main) {
  try {
    const { configDir } = parseArgs(Deno.args);
    const target = await installGimpPlugin(configDir ?? gimpConfigDir());
    console.log(`Installed the Restyle plug-in: ${target}`);
    console.log(
      "Restart GIMP 3, then use Filters > Artistic > Restyle… (start `deno task serve`).",
    );
  } catch (error) {
    console.error(`install-gimp: ${error instanceof Error ? error.message : error}`);
    Deno.exit(1);
  }
}
