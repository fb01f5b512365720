/**
 * @module `deno task stylize`: stylize one image from the command line.
 *
 * ```sh
 * deno task stylize cat.png --style starry-night --out cat-starry.png --iterations 100 --size 256
 * deno task stylize cat.png --style a.jpg --style b.jpg --style-weights 2,1 --json --out out.png
 * ```
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { basename, extname, join } from "node:path";
import cliProgress from "cli-progress";
import { ZodError } from "zod";
import { type BackendName, initBackend } from "../backend.ts";
import { dataDir, homeDir, mirrorDir } from "../config.ts";
import { stylize } from "../engine/stylize.ts";
import { type StylizeOptionsInput, stylizeOptionsSchema } from "../engine/options.ts";
import { chooseBackend } from "../engine/backend_probe.ts";
import { decodeImage, encodeGif, encodePng } from "../image/codec.ts";
import type { RgbaImage } from "../image/image.ts";
import { catalogueDir, readCatalogue } from "../styles/catalogue.ts";

const USAGE =
  `Usage: deno task stylize <content> --style <id|file> [--style ...] --out <out.png> [options]

  --style <id|file>        style image file, or a built-in style id (repeatable)
  --style-weights <a,b>    blend weights, one per --style
  --out <file.png>         where the result goes (required)
  --iterations <n>         optimiser iterations (default 100)
  --every <k>              preview every k iterations (default 10)
  --size <px>              longest side the optimisation runs at (default 512; from 256 up
                           a half-size stage comes first)
  --scales <a,b,...>       coarse-to-fine sizes instead of --size, e.g. 256,512
  --network <name>         squeezenet | googlenet | vgg16 (default squeezenet)
  --preserve-colors        keep the content's colours (luminance-only transfer)
  --match-colors           recolour the style to the content's colours first
  --strength <0..100>      style strength; 50 (default) is the network's tuned balance,
                           each 25 more multiplies the style weight by 10
  --content-weight <w>     --style-weight <w>   --tv-weight <w>   --style-scale <s>
  --pooling <max|avg|blur> --padding <zero|reflect>   (default: the network's preset)
  --init <content|noise>   starting image (default content)
  --optimizer <lbfgs|adam>
  --seed <n>               seed for the noise start
  --frames <dir>           write every preview there as PNG
  --gif <file.gif>         write an animated GIF of the previews
  --json                   one JSON line per iteration instead of a progress bar
  --backend <name>         webgpu | onnx | wasm | cpu (default: the best available)
  -h, --help`;

/** A bad command line: the message is shown with a pointer to --help, exit code 2. */
class UsageError extends Error {}

const FLAGS = {
  style: { type: "string", multiple: true },
  "style-weights": { type: "string" },
  out: { type: "string", short: "o" },
  iterations: { type: "string" },
  every: { type: "string" },
  size: { type: "string" },
  scales: { type: "string" },
  network: { type: "string" },
  "preserve-colors": { type: "boolean" },
  "match-colors": { type: "boolean" },
  "content-weight": { type: "string" },
  "style-weight": { type: "string" },
  "tv-weight": { type: "string" },
  "style-scale": { type: "string" },
  strength: { type: "string" },
  pooling: { type: "string" },
  padding: { type: "string" },
  init: { type: "string" },
  optimizer: { type: "string" },
  seed: { type: "string" },
  frames: { type: "string" },
  gif: { type: "string" },
  json: { type: "boolean" },
  backend: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/** Option field -> the flag that sets it, for error messages. */
const FLAG_OF: Record<string, string> = {
  iterations: "--iterations",
  previewEvery: "--every",
  maxSize: "--size",
  scales: "--scales",
  network: "--network",
  styleWeights: "--style-weights",
  contentWeight: "--content-weight",
  styleWeight: "--style-weight",
  tvWeight: "--tv-weight",
  styleScale: "--style-scale",
  strength: "--strength",
  pooling: "--pooling",
  padding: "--padding",
  init: "--init",
  optimizer: "--optimizer",
  seed: "--seed",
};

function number(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`--${flag}: "${text}" is not a number`);
  }
  return value;
}

function numbers(flag: string, text: string | undefined): number[] | undefined {
  return text?.split(",").map((part) => number(flag, part)!);
}

/** Parsed command line. */
interface Command {
  content: string;
  styles: string[];
  out: string;
  options: StylizeOptionsInput;
  frames?: string;
  gif?: string;
  json: boolean;
  backend?: BackendName;
}

function parseCommand(args: string[]): Command | null {
  let parsed;
  try {
    parsed = parseArgs({ args, options: FLAGS, allowPositionals: true, strict: true });
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
  if (values["preserve-colors"] && values["match-colors"]) {
    throw new UsageError(
      "--preserve-colors and --match-colors are two ways of doing one thing: pick one",
    );
  }
  const backend = values.backend;
  if (backend && !["webgpu", "onnx", "wasm", "cpu"].includes(backend)) {
    throw new UsageError(`--backend: "${backend}" is not one of webgpu, onnx, wasm, cpu`);
  }
  const options: StylizeOptionsInput = {
    iterations: number("iterations", values.iterations),
    previewEvery: number("every", values.every),
    maxSize: number("size", values.size),
    scales: numbers("scales", values.scales),
    network: values.network as StylizeOptionsInput["network"],
    styleWeights: numbers("style-weights", values["style-weights"]),
    preserveColors: values["preserve-colors"]
      ? "luminance"
      : values["match-colors"]
      ? "match"
      : undefined,
    contentWeight: number("content-weight", values["content-weight"]),
    styleWeight: number("style-weight", values["style-weight"]),
    tvWeight: number("tv-weight", values["tv-weight"]),
    styleScale: number("style-scale", values["style-scale"]),
    strength: number("strength", values.strength),
    pooling: values.pooling as StylizeOptionsInput["pooling"],
    padding: values.padding as StylizeOptionsInput["padding"],
    init: values.init as StylizeOptionsInput["init"],
    optimizer: values.optimizer as StylizeOptionsInput["optimizer"],
    seed: number("seed", values.seed),
  };
  for (const key of Object.keys(options) as (keyof StylizeOptionsInput)[]) {
    if (options[key] === undefined) delete options[key];
  }
  return {
    content: positionals[0],
    styles: values.style,
    out: values.out,
    options,
    frames: values.frames,
    gif: values.gif,
    json: values.json ?? false,
    backend: backend as BackendName | undefined,
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
 * A `--style` argument as a file: itself when it is one, else the built-in
 * style of that id (fetched catalogue, `$RESTYLE_HOME/data/styles/`, or the mirror).
 */
export async function resolveStyle(arg: string): Promise<string> {
  if (await exists(arg)) return arg;
  const catalogue = await readCatalogue().catch(() => []);
  const entry = catalogue.find((style) => style.id === arg);
  const file = entry?.file ?? `${arg}.jpg`;
  const mirror = mirrorDir();
  const candidates = [
    join(catalogueDir(), file),
    join(dataDir(), "styles", file),
    join(homeDir(), "data", "styles", file),
    ...(mirror ? [join(mirror, "images", file)] : []),
  ];
  for (const path of candidates) if (await exists(path)) return path;
  const known = catalogue.map((style) => style.id).join(", ") || "(catalogue unreadable)";
  throw new UsageError(
    entry
      ? `--style ${arg}: built-in style not fetched yet; run \`deno task serve\` once (or set RESTYLE_MIRROR) to fetch the catalogue`
      : `--style ${arg}: no such file, and not a built-in style id; built-in styles are: ${known}`,
  );
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

function describeZodError(error: ZodError): string {
  return error.issues.map((issue) => {
    const [field, ...rest] = issue.path.map(String);
    const flag = field === "options" ? FLAG_OF[rest[0]] ?? rest.join(".") : FLAG_OF[field] ?? field;
    return `${flag}: ${issue.message}`;
  }).join("; ");
}

async function main(args: string[]): Promise<number> {
  const command = parseCommand(args);
  if (!command) {
    console.log(USAGE);
    return 0;
  }
  const content = await readImage(command.content, "content");
  const styles = await Promise.all(
    command.styles.map(async (style) => readImage(await resolveStyle(style), "style")),
  );
  const parsed = stylizeOptionsSchema.parse(command.options);
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
  for await (const step of stylize({ content, styles, options: command.options })) {
    if (command.json) {
      console.log(JSON.stringify({ iteration: step.iteration, losses: step.losses }));
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
  let code: number;
  try {
    code = await main(Deno.args);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`restyle stylize: ${error.message}\n(see --help)`);
      code = 2;
    } else if (error instanceof ZodError) {
      console.error(`restyle stylize: ${describeZodError(error)}\n(see --help)`);
      code = 2;
    } else {
      console.error(`restyle stylize: ${(error as Error).message ?? error}`);
      code = 1;
    }
  }
  // The wasm backend's worker threads would keep the process alive.
  Deno.exit(code);
}
