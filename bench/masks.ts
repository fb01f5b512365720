/**
 * Pictures of spatial control and colour, written to `docs/masks/` (or `--out DIR`):
 *
 * 1. `two-styles.jpg`: a photo with the sky after one painting and the rest after another
 *    (one mask each), beside the photo and the sky's mask.
 * 2. `in-loss-vs-after.jpg`: a small selected object stylized inside the loss (its mask
 *    in the run) beside the same selection cut out of a whole-image run afterwards.
 * 3. `luminance.jpg`: the photo; the luminance optimised (content and style in grey)
 *    with the photo's colours put back; and `preserveColors: "luminance"`, the colour
 *    result's luminance with the photo's colours.
 *
 * ```sh
 * deno run -A bench/masks.ts            # SqueezeNet's defaults at 384 px, 100 iterations
 * ```
 */
import { parseArgs } from "node:util";
import { Image } from "imagescript";
import { initBackend } from "../src/backend.ts";
import { mirrorDir, repoPath } from "../src/config.ts";
import { stylize } from "../src/engine/stylize.ts";
import type { StylizeOptionsInput } from "../src/engine/options.ts";
import { decodeImage } from "../src/image/codec.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { chooseBackend } from "../src/engine/backend_probe.ts";
import * as tf from "@tensorflow/tfjs";
import { greyLuminance, luminanceTransfer } from "../src/engine/color.ts";
import { imageToTensor, tensorToImage } from "../src/image/tensor.ts";

const { values: flags } = parseArgs({
  options: {
    out: { type: "string", default: repoPath("docs/masks") },
    size: { type: "string", default: "384" },
    iterations: { type: "string", default: "100" },
  },
});
const size = Number(flags.size);
const images = `${mirrorDir() ?? "../shared"}/images`;
const read = async (name: string) => decodeImage(await Deno.readFile(`${images}/${name}`));

/** `image` scaled so its longest side is `side`. */
function fit(image: RgbaImage, side: number): RgbaImage {
  const scale = side / Math.max(image.width, image.height);
  const img = new Image(image.width, image.height);
  img.bitmap.set(image.data);
  img.resize(Math.round(image.width * scale), Math.round(image.height * scale));
  return { width: img.width, height: img.height, data: new Uint8Array(img.bitmap) };
}

async function run(
  content: RgbaImage,
  styles: RgbaImage[],
  options: StylizeOptionsInput = {},
  masks?: RgbaImage[],
): Promise<RgbaImage> {
  let image: RgbaImage | undefined;
  const all = { maxSize: size, iterations: Number(flags.iterations), seed: 1, ...options };
  for await (const step of stylize({ content, styles, masks, options: all })) {
    image = step.image ?? image;
  }
  return image!;
}

/** A grey mask image from per-pixel values 0..1. */
function maskImage(width: number, height: number, value: (x: number, y: number) => number) {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = Math.round(255 * Math.min(1, Math.max(0, value(x, y))));
      data.set([v, v, v, 255], 4 * (y * width + x));
    }
  }
  return { width, height, data };
}

/** `inside` where the mask is white, `outside` where black, blended between. */
function composite(inside: RgbaImage, outside: RgbaImage, mask: RgbaImage): RgbaImage {
  const data = new Uint8Array(inside.data.length);
  for (let p = 0; p < inside.width * inside.height; p++) {
    const m = mask.data[4 * p] / 255;
    for (let c = 0; c < 3; c++) {
      data[4 * p + c] = Math.round(m * inside.data[4 * p + c] + (1 - m) * outside.data[4 * p + c]);
    }
    data[4 * p + 3] = 255;
  }
  return { width: inside.width, height: inside.height, data };
}

/** Pictures side by side, each scaled to `height`, with a gap. */
async function row(file: string, pictures: RgbaImage[], height = 256) {
  const scaled = pictures.map((p) => {
    const img = new Image(p.width, p.height);
    img.bitmap.set(p.data);
    return img.resize(Image.RESIZE_AUTO, height);
  });
  const gap = 6;
  const sheet = new Image(scaled.reduce((w, s) => w + s.width + gap, -gap), height).fill(
    0xffffffff,
  );
  let x = 0;
  for (const s of scaled) {
    sheet.composite(s, x, 0);
    x += s.width + gap;
  }
  await Deno.writeFile(`${flags.out}/${file}`, await sheet.encodeJPEG(85));
  console.log(`wrote ${flags.out}/${file}`);
}

await initBackend();
const choice = await chooseBackend("squeezenet", size);
console.log(`backend ${choice.backend}`);
await Deno.mkdir(flags.out!, { recursive: true });
const [starry, wave] = [await read("starry-night.jpg"), await read("great-wave.jpg")];

// 1. The sky after Starry Night, the city after The Great Wave: the sky is the photo's top
// quarter, feathered over 6 % of its height.
const city = fit(await read("city-skyline.jpg"), size);
const horizon = 0.25 * city.height, feather = 0.06 * city.height;
const sky = maskImage(city.width, city.height, (_, y) => (horizon - y) / feather + 0.5);
const ground = maskImage(city.width, city.height, (_, y) => 0.5 - (horizon - y) / feather);
const both = await run(city, [starry, wave], {}, [sky, ground]);
await row("two-styles.jpg", [city, sky, both]);

// 2. A small selected object: in the loss, against cut out of a whole-image run.
const cat = fit(await read("cat.png"), size);
const [cx, cy, rx, ry] = [cat.width * 0.5, cat.height * 0.42, cat.width * 0.22, cat.height * 0.26];
const selection = maskImage(cat.width, cat.height, (x, y) => {
  const d = Math.hypot((x - cx) / rx, (y - cy) / ry);
  return (1.1 - d) / 0.2; // a feathered ellipse
});
const inLoss = await run(cat, [starry], {}, [selection]);
const after = composite(await run(cat, [starry]), cat, selection);
await row("in-loss-vs-after.jpg", [selection, inLoss, after]);

// 3. Luminance-only transfer: optimising the luminance (Gatys et al. 2017: content and style
// in grey, the style's tones matched to the content's, then the content's colours put back)
// against the colour result recoloured afterwards (preserveColors "luminance").
const gate = fit(await read("golden-gate.jpg"), size);
const grey = (rgb: RgbaImage, like?: RgbaImage) =>
  tensorToImage(
    tf.tidy(() => greyLuminance(imageToTensor(rgb), like && imageToTensor(like))),
    null,
  );
const greyGate = await grey(gate);
const optimised = await run(greyGate, [await grey(fit(starry, size), greyGate)]);
const inLossColours = await tensorToImage(
  tf.tidy(() => luminanceTransfer(imageToTensor(optimised), imageToTensor(gate))),
  null,
);
const recoloured = await run(gate, [starry], { preserveColors: "luminance" });
await row("luminance.jpg", [gate, inLossColours, recoloured]);
