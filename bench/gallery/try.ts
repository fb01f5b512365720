// Scratch: one stylization + its judge figures. deno run -A bench/gallery/try.ts content style net size iters 'json' out.png
import { initBackend } from "../../src/backend.ts";
import { stylize } from "../../src/engine/stylize.ts";
import { decodeImage, encodePng } from "../../src/image/codec.ts";
import { getNetwork } from "../../src/net/load.ts";
import { edgeScore, judgeGrams, styleRatio } from "./judge.ts";
import type { RgbaImage } from "../../src/image/image.ts";

const [contentPath, stylePath, net, size, iters, json, out] = Deno.args;
await initBackend();
const img = async (p: string) => decodeImage(await Deno.readFile(p));
const content = await img(contentPath), style = await img(stylePath);
const t0 = performance.now();
let last: RgbaImage | undefined;
let losses;
for await (
  const step of stylize({
    content,
    styles: [style],
    options: {
      network: net as "squeezenet",
      maxSize: Number(size),
      maxDetailSize: Number(size),
      iterations: Number(iters),
      previewEvery: 100000,
      seed: 1,
      ...JSON.parse(json || "{}"),
    },
  })
) {
  if (step.image) last = step.image;
  losses = step.losses;
}
const ms = performance.now() - t0;
await Deno.writeFile(out, await encodePng(last!));
const judge = await getNetwork(net === "squeezenet" ? "googlenet" : "squeezenet");
const [go, gp, gs] = [
  await judgeGrams(judge, last!),
  await judgeGrams(judge, content),
  await judgeGrams(judge, style),
];
console.log(
  JSON.stringify({
    out,
    r: +styleRatio(go, gp, gs).toFixed(3),
    edge: +(await edgeScore(last!, content)).toFixed(3),
    s: +(ms / 1000).toFixed(1),
    losses,
  }),
);
Deno.exit(0);
