/**
 * `deno task gallery`: renders a fixed set of photos × paintings with each
 * network's defaults, writes every cell, a labelled contact sheet per network
 * and the judges' figures under `docs/gallery/`.
 *
 * ```sh
 * deno task gallery                                   # 4 photos × 5 paintings × 2 networks, 512 px
 * deno task gallery --networks squeezenet --photos cat.png --paintings starry-night.jpg --size 128 --iterations 5 --out /tmp/g
 * deno task gallery --sheet-only                      # contact sheets again from the cells and JSON
 * ```
 *
 * The judge of a network's cells is always the other network (never one in the
 * loss); see `judge.ts` for what r and edge measure. A benchmark, not a test:
 * it takes minutes per cell on a small CPU.
 */
import { parseArgs } from "node:util";
import { Image } from "imagescript";
import { initBackend } from "../../src/backend.ts";
import { mirrorDir, repoPath } from "../../src/config.ts";
import { stylize, type StylizeStep } from "../../src/engine/stylize.ts";
import { decodeImage } from "../../src/image/codec.ts";
import type { RgbaImage } from "../../src/image/image.ts";
import { getNetwork } from "../../src/net/load.ts";
import type { FeatureNetwork, NetworkId } from "../../src/net/network.ts";
import { cpuModel } from "../cpu.ts";
import { edgeScore, judgeGrams, styleRatio } from "./judge.ts";
import { contactSheet, type SheetCell } from "./sheet.ts";

/** The photos (from `<images>/`) every network renders. */
export const PHOTOS = ["golden-gate.jpg", "city-skyline.jpg", "cat.png", "astronaut.png"];
/** The paintings (from `<images>/`) every photo is rendered after. */
export const PAINTINGS = [
  "starry-night.jpg",
  "great-wave.jpg",
  "the-scream.jpg",
  "composition-vii.jpg",
  "wheat-field-cypresses.jpg",
];
/** Each network and the network that judges it. */
const JUDGE_OF: Partial<Record<NetworkId, NetworkId>> = {
  squeezenet: "googlenet",
  googlenet: "squeezenet",
};
/** Noise seed of every cell, so a gallery can be rendered again. */
const SEED = 7;

/** One rendered cell and its figures. */
export interface CellResult {
  photo: string;
  painting: string;
  /** Judge ratio (lower: closer to the painting's texture). */
  r: number;
  /** Edge-structure score (higher: more of the photo's structure). */
  edge: number;
  seconds: number;
  iterations: number;
  evaluations: number;
  losses: StylizeStep["losses"];
  /** The cell's image, relative to the output directory. */
  file: string;
}

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    networks: { type: "string", default: "squeezenet,googlenet" },
    photos: { type: "string", default: PHOTOS.join(",") },
    paintings: { type: "string", default: PAINTINGS.join(",") },
    images: { type: "string" },
    size: { type: "string", default: "512" },
    iterations: { type: "string" },
    out: { type: "string", default: repoPath("docs/gallery") },
    "sheet-only": { type: "boolean", default: false },
  },
});

const imagesDir = args.images ?? (mirrorDir() ? `${mirrorDir()}/images` : undefined);
if (!imagesDir) {
  console.error("gallery: no images: pass --images DIR or set RESTYLE_MIRROR (DIR/images)");
  Deno.exit(2);
}
const networks = args.networks.split(",") as NetworkId[];
for (const id of networks) {
  if (!JUDGE_OF[id]) {
    console.error(`gallery: no judge for "${id}"; networks: ${Object.keys(JUDGE_OF).join(", ")}`);
    Deno.exit(2);
  }
}
const photos = args.photos.split(",");
const paintings = args.paintings.split(",");
const size = Number(args.size);
const iterations = args.iterations ? Number(args.iterations) : undefined;

const load = async (name: string) => decodeImage(await Deno.readFile(`${imagesDir}/${name}`));
const backend = await initBackend();
const cpu = await cpuModel();
console.log(`gallery: ${backend.backend} on ${cpu}; ${photos.length}×${paintings.length} cells`);
const images = new Map<string, RgbaImage>();
for (const name of [...photos, ...paintings]) images.set(name, await load(name));

for (const id of networks) {
  if (args["sheet-only"]) {
    await writeSheet(id, JSON.parse(await Deno.readTextFile(`${args.out}/${id}.json`)));
    continue;
  }
  const judge = await getNetwork(JUDGE_OF[id]!);
  const grams = new Map<string, Float32Array[]>();
  for (const [name, image] of images) grams.set(name, await judgeGrams(judge, image));
  const dir = `${args.out}/${id}`;
  await Deno.mkdir(dir, { recursive: true });
  const cells: CellResult[] = [];
  for (const photo of photos) {
    for (const painting of paintings) {
      const cell = await render(id, photo, painting, judge, grams);
      cells.push(cell.result);
      await Deno.writeFile(`${args.out}/${cell.result.file}`, await jpeg(cell.image, size));
      const { r, edge, seconds, evaluations } = cell.result;
      console.log(
        `${id} ${photo} × ${painting}: r ${r.toFixed(3)}, edge ${edge.toFixed(3)}, ` +
          `${seconds.toFixed(1)} s, ${evaluations} evaluations`,
      );
    }
  }
  const summary = summarise(cells);
  console.log(
    `${id} (judged by ${JUDGE_OF[id]}): median r ${summary.medianR.toFixed(3)}, ` +
      `max r ${summary.maxR.toFixed(3)}, median edge ${summary.medianEdge.toFixed(3)}`,
  );
  const figures: GalleryFigures = {
    network: id,
    judge: JUDGE_OF[id]!,
    size,
    iterations: iterations ?? "default",
    backend: backend.backend,
    cpu,
    date: new Date().toISOString(),
    ...summary,
    cells,
  };
  await Deno.writeTextFile(`${args.out}/${id}.json`, JSON.stringify(figures, null, 2) + "\n");
  await writeSheet(id, figures);
}
Deno.exit(0);

/** What `<network>.json` holds. */
interface GalleryFigures {
  network: NetworkId;
  judge: NetworkId;
  size: number;
  iterations: number | "default";
  backend: string;
  cpu: string;
  date: string;
  medianR: number;
  maxR: number;
  medianEdge: number;
  cells: CellResult[];
}

/** The labelled contact sheet of one network's cells, as `<out>/<network>.jpg`. */
async function writeSheet(id: NetworkId, figures: GalleryFigures) {
  const rowNames = [...new Set(figures.cells.map((c) => c.photo))];
  const columnNames = [...new Set(figures.cells.map((c) => c.painting))];
  const heading = async (name: string) => ({
    label: stem(name),
    image: images.get(name) ?? await load(name),
  });
  const sheet = await contactSheet({
    title: `${id} defaults, ${figures.size} px — judged by ${figures.judge}: median r ${
      figures.medianR.toFixed(2)
    }, median edge ${figures.medianEdge.toFixed(2)}`,
    rows: await Promise.all(rowNames.map(heading)),
    columns: await Promise.all(columnNames.map(heading)),
    cells: await Promise.all(figures.cells.map(async (c): Promise<SheetCell> => ({
      row: rowNames.indexOf(c.photo),
      column: columnNames.indexOf(c.painting),
      image: await decodeImage(await Deno.readFile(`${args.out}/${c.file}`)),
      caption: `r ${c.r.toFixed(2)}  edge ${c.edge.toFixed(2)}`,
    }))),
  });
  await Deno.writeFile(`${args.out}/${id}.jpg`, sheet);
  console.log(
    `wrote ${args.out}/${id}.jpg, ${args.out}/${id}.json and ${figures.cells.length} cells`,
  );
}

/** Renders one cell with the network's defaults and judges it with `judge` (photo and painting Grams precomputed). */
async function render(
  network: NetworkId,
  photo: string,
  painting: string,
  judge: FeatureNetwork,
  grams: Map<string, Float32Array[]>,
) {
  const content = images.get(photo)!, style = images.get(painting)!;
  const started = performance.now();
  let last: StylizeStep | undefined;
  for await (
    const step of stylize({
      content,
      styles: [style],
      // maxDetailSize: the cells compare the working size, as the sheets always did (the photos
      // are larger; full-resolution detail stages would multiply the time).
      options: {
        network,
        maxSize: size,
        maxDetailSize: size,
        seed: SEED,
        previewEvery: 1e6,
        iterations,
      },
    })
  ) last = step;
  const seconds = (performance.now() - started) / 1000;
  const image = last!.image!;
  const result: CellResult = {
    photo,
    painting,
    r: styleRatio(await judgeGrams(judge, image), grams.get(photo)!, grams.get(painting)!),
    edge: await edgeScore(image, content),
    seconds,
    iterations: last!.iterations,
    evaluations: last!.evaluations,
    losses: last!.losses,
    file: `${network}/${stem(photo)}--${stem(painting)}.jpg`,
  };
  return { result, image };
}

function stem(file: string): string {
  return file.replace(/\.[^.]+$/, "");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summarise(cells: CellResult[]) {
  return {
    medianR: median(cells.map((c) => c.r)),
    maxR: Math.max(...cells.map((c) => c.r)),
    medianEdge: median(cells.map((c) => c.edge)),
  };
}

/** A cell as a JPEG, its longest side at most `side`. */
function jpeg(image: RgbaImage, side: number): Promise<Uint8Array> {
  const img = new Image(image.width, image.height);
  img.bitmap.set(image.data);
  const scale = side / Math.max(image.width, image.height);
  if (scale < 1) img.resize(Math.round(image.width * scale), Math.round(image.height * scale));
  return img.encodeJPEG(85);
}
