/**
 * Experiment 3 of the reference post: the full transfer — content and style
 * losses together, optimised from noise — writing every preview as a frame.
 *
 * ```sh
 * RESTYLE_MIRROR=../shared deno run -A examples/transfer.ts [content] [style] [out-dir]
 * ```
 * Defaults: `$RESTYLE_MIRROR/images/cat.png`, `.../starry-night.jpg`, a new temporary directory.
 */
import { initBackend } from "../src/backend.ts";
import { stylize } from "../src/engine/stylize.ts";
import { decodeImage, encodePng } from "../src/image/codec.ts";

const images = `${Deno.env.get("RESTYLE_MIRROR") ?? "."}/images`;
const contentPath = Deno.args[0] || `${images}/cat.png`;
const stylePath = Deno.args[1] || `${images}/starry-night.jpg`;
const outDir = Deno.args[2] || await Deno.makeTempDir({ prefix: "restyle-transfer-" });

console.error(await initBackend(), `frames -> ${outDir}`);
await Deno.mkdir(outDir, { recursive: true });
const content = await decodeImage(await Deno.readFile(contentPath));
const style = await decodeImage(await Deno.readFile(stylePath));

const options = {
  network: "squeezenet",
  maxSize: 256,
  iterations: 100,
  previewEvery: 10,
  seed: 1,
} as const;
for await (const step of stylize({ content, styles: [style], options })) {
  console.log(`${step.iteration}/${step.iterations} loss ${step.losses.total.toPrecision(4)}`);
  if (step.image) {
    await Deno.writeFile(
      `${outDir}/${String(step.iteration).padStart(4, "0")}.png`,
      await encodePng(step.image),
    );
  }
}
Deno.exit(0); // the wasm backend's worker threads would keep the process alive
