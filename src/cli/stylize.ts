/**
 * @module `deno task stylize`: stylize one image from the command line.
 *
 * ```sh
 * deno task stylize cat.png --style starry-night --out cat-starry.png --iterations 100 --max-size 256
 * deno task stylize cat.png --style a.jpg --style b.jpg --style-weights 2,1 --json --out out.png
 * ```
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { basename, extname, join } from "node:path";
import cliProgress from "cli-progress";
import { ZodError } from "zod";
import { type BackendName, initBackend } from "../backend.ts";
import { usePrivateRuntimeDir } from "../config.ts";
import { stylize, type TileProgress } from "../engine/stylize.ts";
import type { StylizeOptions } from "../engine/options.ts";
import { chooseBackend } from "../engine/backend_probe.ts";
import { decodeImage, encodeGif, encodePng } from "../image/codec.ts";
import type { RgbaImage } from "../image/image.ts";
import { fetchCatalogue, readCatalogue } from "../styles/catalogue.ts";
import { StyleError, StyleStore } from "../styles/store.ts";
import {
  DEPRECATED_FLAGS,
  describeOptionError,
  helpLines,
  normalizeArgs,
  optionFlags,
  optionHelp,
  parseOptions,
  readOptionFlags,
  UsageError,
} from "./option_flags.ts";

/** The flags that are not options: what to read and where to write. */
const COMMAND_FLAGS = {
  style: { type: "string", multiple: true },
  mask: { type: "string", multiple: true },
  out: { type: "string", short: "o" },
  "init-image": { type: "string" },
  frames: { type: "string" },
  gif: { type: "string" },
  json: { type: "boolean" },
  backend: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const BACKENDS: BackendName[] = ["webgpu", "onnx", "wasm", "cpu"];

/** `--help`: the command's own flags, then one line per option of the options table. */
export function usage(): string {
  return `Usage: deno task stylize <content> --style <id|file> [--style ...] --out <out.png> [options]

${
    helpLines([
      { flag: "--style <id|file>", description: "style image file, or a style id (repeatable)" },
      {
        flag: "--mask <file>",
        description: "where a style paints: one per --style in order, or one for all " +
          "(alpha, else luminance: white styled, black untouched)",
      },
      { flag: "--out <file.png>", description: "where the result goes (required)" },
      {
        flag: "--init-image <file>",
        description: "start image (sets --init image unless --init says otherwise)",
      },
      { flag: "--frames <dir>", description: "write every preview there as PNG" },
      { flag: "--gif <file.gif>", description: "write an animated GIF of the previews" },
      {
        flag: "--json",
        description:
          "one JSON line per iteration (losses, evaluations, ms) instead of a progress bar",
      },
      {
        flag: "--backend <name>",
        description: `${BACKENDS.join(" | ")} (default: the best available)`,
      },
      { flag: "-h, --help", description: "this text" },
    ])
  }

Options (the HTTP API's \`options\`, same names in kebab-case):
${helpLines(optionHelp())}

Deprecated: ${
    Object.entries(DEPRECATED_FLAGS).map(([old, now]) => `${old} (${now.join(" ")})`).join(", ")
  }`;
}

/** Parsed command line. */
export interface Command {
  content: string;
  styles: string[];
  /** Mask files, one per style or one for all. */
  masks: string[];
  out: string;
  initImage?: string;
  /** Validated once here, defaults applied. */
  options: StylizeOptions;
  frames?: string;
  gif?: string;
  json: boolean;
  backend?: BackendName;
}

/** Reads the command line; `null` for `--help`. Throws a UsageError naming the flag. */
export function parseCommand(
  args: string[],
  warn: (message: string) => void = (message) => console.error(`restyle stylize: ${message}`),
): Command | null {
  let parsed;
  try {
    parsed = parseArgs({
      args: normalizeArgs(args, warn),
      options: { ...optionFlags(), ...COMMAND_FLAGS },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "missing <content> image"
        : `one content image expected, got ${positionals.join(" ")}`,
    );
  }
  if (!values.style?.length) throw new UsageError("missing --style (a style id or an image file)");
  if (!values.out) throw new UsageError("missing --out <file.png>");
  const backend = values.backend as BackendName | undefined;
  if (backend && !BACKENDS.includes(backend)) {
    throw new UsageError(`--backend: "${backend}" is not one of ${BACKENDS.join(", ")}`);
  }
  const options = readOptionFlags(values);
  const initImage = values["init-image"] as string | undefined;
  if (initImage && options.init === undefined) options.init = "image";
  return {
    content: positionals[0],
    styles: values.style as string[],
    masks: (values.mask as string[] | undefined) ?? [],
    out: values.out as string,
    initImage,
    options: parseOptions(options),
    frames: values.frames as string | undefined,
    gif: values.gif as string | undefined,
    json: (values.json as boolean | undefined) ?? false,
    backend,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/**
 * The image a `--style` argument names: the file of that name, else the style store's
 * style of that id (uploads included); a built-in one not fetched yet is fetched first,
 * from `RESTYLE_MIRROR` when set.
 */
export async function readStyle(arg: string, store?: StyleStore): Promise<RgbaImage> {
  if (await exists(arg)) return await readImage(arg, "style");
  store ??= await StyleStore.open();
  try {
    return await store.decoded(arg);
  } catch (error) {
    if (!(error instanceof StyleError)) throw error;
    if (error.reason !== "not-fetched") {
      throw new UsageError(`--style ${arg}: no such file, and ${error.message}`);
    }
  }
  console.error(`restyle stylize: fetching the built-in style ${arg}`);
  const styles = (await readCatalogue()).filter((style) => style.id === arg);
  await fetchCatalogue({ styles, dest: `${store.dir}/catalogue` }).catch((error) => {
    throw new UsageError(`--style ${arg}: ${error.message}`);
  });
  return await store.decoded(arg);
}

async function readImage(path: string, what: string): Promise<RgbaImage> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new UsageError(`${what} ${path}: ${(error as Error).message}`);
  }
  try {
    return await decodeImage(bytes);
  } catch (error) {
    throw new UsageError(`${what} ${path}: ${(error as Error).message}`);
  }
}

async function main(args: string[]): Promise<number> {
  const command = parseCommand(args);
  if (!command) {
    console.log(usage());
    return 0;
  }
  const content = await readImage(command.content, "content");
  const styles = await Promise.all(
    command.styles.map((style) => readStyle(style)),
  );
  const initImage = command.initImage
    ? await readImage(command.initImage, "init image")
    : undefined;
  const masks = await Promise.all(command.masks.map((mask) => readImage(mask, "mask")));
  const parsed = command.options;
  // Unforced, the backend is the fastest one measured on this network and size bucket.
  const backend = command.backend
    ? { ...await initBackend(command.backend), probeMs: {}, cached: false }
    : await chooseBackend(parsed.network, parsed.maxSize);
  const timings = Object.entries(backend.probeMs).map(([name, ms]) =>
    `${name} ${Math.round(ms)} ms`
  );
  console.error(
    `restyle: backend ${backend.backend} on ${backend.adapter}${
      backend.softwareAdapter ? " (software adapter)" : ""
    }${
      timings.length
        ? ` (picked by measurement${backend.cached ? ", cached" : ""}: ${timings.join(", ")})`
        : ""
    }`,
  );
  if (command.frames) await Deno.mkdir(command.frames, { recursive: true });

  const frames: RgbaImage[] = [];
  const started = performance.now();
  let bar: cliProgress.SingleBar | undefined;
  let last: RgbaImage | undefined;
  const stem = basename(command.out, extname(command.out));
  // A full-resolution iteration runs tile by tile: the bar moves within it.
  const onTile = ({ iteration, tile, tiles }: TileProgress) =>
    bar?.update(iteration - 1 + tile / tiles, { loss: `tile ${tile}/${tiles}` });
  const input = { content, styles, masks, initImage, options: parsed, onTile };
  for await (const step of stylize(input)) {
    if (command.json) {
      const { iteration, iterations, losses, evaluations } = step;
      const ms = Math.round(step.elapsedMs);
      console.log(JSON.stringify({ iteration, iterations, losses, evaluations, ms }));
    } else if (Deno.stderr.isTerminal()) {
      bar ??= new cliProgress.SingleBar({
        format: "{bar} {value}/{total} | loss {loss} | {duration_formatted} (eta {eta_formatted})",
        stream: process.stderr,
      }, cliProgress.Presets.shades_classic);
      if (step.iteration === 1) bar.start(step.iterations, 0, { loss: "" });
      bar.update(step.iteration, { loss: step.losses.total.toPrecision(4) });
    }
    if (!step.image) continue;
    last = step.image;
    if (command.gif) frames.push(step.image);
    if (command.frames) {
      const name = `${stem}-${String(step.iteration).padStart(4, "0")}.png`;
      await Deno.writeFile(join(command.frames, name), await encodePng(step.image));
    }
  }
  bar?.stop();
  await Deno.writeFile(command.out, await encodePng(last!));
  if (command.gif) await Deno.writeFile(command.gif, await encodeGif(frames));
  const ms = Math.round(performance.now() - started);
  if (command.json) console.log(JSON.stringify({ done: true, out: command.out, ms }));
  else console.error(`restyle: wrote ${command.out} in ${(ms / 1000).toFixed(1)} s`);
  return 0;
}

if (import.meta.main) {
  // Before the backend probe: without a desktop session WebGPU's probe complains once per try.
  const restoreRuntimeDir = usePrivateRuntimeDir();
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`restyle stylize: ${error.message}\n(see --help)`);
      code = 2;
    } else if (error instanceof ZodError) {
      console.error(`restyle stylize: ${describeOptionError(error)}\n(see --help)`);
      code = 2;
    } else {
      console.error(`restyle stylize: ${(error as Error).message ?? error}`);
      code = 1;
    }
  }
  restoreRuntimeDir();
  // The wasm backend's worker threads would keep the process alive.
  Deno.exit(code);
}
