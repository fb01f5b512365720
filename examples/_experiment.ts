/**
 * The shared body of the reference post's three experiments: read a content and
 * a style image, run `stylize()` with the experiment's loss weights, and write
 * every preview as a numbered PNG frame.
 *
 * Arguments: `[content] [style] [out-dir]` and any option flag of `deno task stylize`
 * (`--max-size PX`, `--iterations N`, `--preview-every K`, …); defaults
 * `$RESTYLE_MIRROR/images/cat.png`, `.../starry-night.jpg`, a new temporary
 * directory, 256 px, seed 1, and the options table's defaults for the rest.
 */
import { parseArgs } from "node:util";
import { initBackend } from "../src/backend.ts";
import { normalizeArgs, optionFlags, readOptionFlags } from "../src/cli/option_flags.ts";
import { mirrorDir } from "../src/config.ts";
import type { StylizeOptionsInput } from "../src/engine/options.ts";
import { stylize } from "../src/engine/stylize.ts";
import { decodeImage, encodePng } from "../src/image/codec.ts";

/** Runs one experiment with `weights` laid over the SqueezeNet preset; prints one line per iteration. */
export async function runExperiment(name: string, weights: StylizeOptionsInput): Promise<void> {
  const { positionals, values } = parseArgs({
    args: normalizeArgs(Deno.args, (message) => console.error(`${name}: ${message}`)),
    allowPositionals: true,
    options: optionFlags(),
  });
  const images = `${mirrorDir() ?? "."}/images`;
  // An empty argument takes its default too, so later ones can be given alone.
  const [contentArg, styleArg, outArg] = positionals;
  const contentPath = contentArg || `${images}/cat.png`;
  const stylePath = styleArg || `${images}/starry-night.jpg`;
  const outDir = outArg || await Deno.makeTempDir({ prefix: `restyle-${name}-` });

  const { backend, adapter } = await initBackend();
  console.error(`${name}: ${backend} on ${adapter}; frames -> ${outDir}`);
  await Deno.mkdir(outDir, { recursive: true });
  const content = await decodeImage(await Deno.readFile(contentPath));
  const style = await decodeImage(await Deno.readFile(stylePath));

  const options: StylizeOptionsInput = {
    network: "squeezenet",
    maxSize: 256,
    seed: 1,
    ...weights,
    ...readOptionFlags(values),
  };
  for await (const step of stylize({ content, styles: [style], options })) {
    console.log(`${step.iteration}/${step.iterations} loss ${step.losses.total.toPrecision(4)}`);
    if (step.image) {
      const frame = `${outDir}/${String(step.iteration).padStart(4, "0")}.png`;
      await Deno.writeFile(frame, await encodePng(step.image));
    }
  }
}
