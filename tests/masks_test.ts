/**
 * Spatial control (Gatys et al. 2017): masks inside the loss. A style paints where its
 * mask says, through guided Gram matrices; outside every mask only the content acts,
 * so the photo stays the photo; the seam is painted, not cut; two styles with two masks
 * paint two regions. And the guided term is the same on every executor, whole and tiled.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { gramDistance, judgeGrams } from "../bench/gallery/judge.ts";
import { initBackend } from "../src/backend.ts";
import { layerMasks } from "../src/engine/masks.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { resolveRun } from "../src/engine/run.ts";
import { stylize } from "../src/engine/stylize.ts";
import { asTiledTargets, disposeTargets, stageTargets } from "../src/engine/targets.ts";
import { onnxExecutor, tfjsExecutor } from "../src/executors/mod.ts";
import { onTensors, tiledObjective } from "../src/executors/tiled.ts";
import { reachOf } from "../src/executors/tiles.ts";
import { decodeImage } from "../src/image/codec.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { imageToTensor, resize, tensorToImage } from "../src/image/tensor.ts";
import { lossLayers, wholeImageTerms } from "../src/loss/terms.ts";
import { layersOf } from "../src/net/graph.ts";
import { getNetwork } from "../src/net/load.ts";
import { installWeights } from "../src/weights/install.ts";

await initBackend("onnx");
await installWeights("squeezenet");
await installWeights("googlenet");
const mirror = Deno.env.get("RESTYLE_MIRROR") ?? "../shared";
const read = async (name: string) => decodeImage(await Deno.readFile(`${mirror}/images/${name}`));

/** `image` at `h`x`w`. */
function sized(image: RgbaImage, h: number, w: number): Promise<RgbaImage> {
  const t = imageToTensor(image);
  const out = resize(t, h, w);
  t.dispose();
  return tensorToImage(out, null);
}

/** A mask `width` wide: white (styled) where `inside(x)`, black elsewhere. */
function columns(width: number, height: number, inside: (x: number) => boolean): RgbaImage {
  const data = new Uint8Array(width * height * 4);
  for (let p = 0; p < width * height; p++) {
    data.fill(inside(p % width) ? 255 : 0, 4 * p, 4 * p + 3);
    data[4 * p + 3] = 255;
  }
  return { width, height, data };
}

/** The columns `[from, to)` of `image`. */
function cropColumns(image: RgbaImage, from: number, to: number): RgbaImage {
  const width = to - from;
  const data = new Uint8Array(width * image.height * 4);
  for (let y = 0; y < image.height; y++) {
    data.set(
      image.data.subarray(4 * (y * image.width + from), 4 * (y * image.width + to)),
      4 * y * width,
    );
  }
  return { width, height: image.height, data };
}

/** Mean |a − b| over the RGB of columns `[from, to)`, 0..255. */
function meanAbsDiff(a: RgbaImage, b: RgbaImage, from: number, to: number): number {
  let sum = 0, n = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = from; x < to; x++) {
      for (let c = 0; c < 3; c++) {
        const i = 4 * (y * a.width + x) + c;
        sum += Math.abs(a.data[i] - b.data[i]);
        n++;
      }
    }
  }
  return sum / n;
}

/** Mean squared horizontal luminance step between columns x-1 and x, over `xs`. */
function stepEnergy(image: RgbaImage, xs: number[]): number {
  const y = (i: number) =>
    0.299 * image.data[i] + 0.587 * image.data[i + 1] + 0.114 * image.data[i + 2];
  let sum = 0, n = 0;
  for (const x of xs) {
    for (let row = 0; row < image.height; row++) {
      const i = 4 * (row * image.width + x);
      sum += (y(i) - y(i - 4)) ** 2;
      n++;
    }
  }
  return sum / n;
}

async function result(
  content: RgbaImage,
  styles: RgbaImage[],
  options: object,
  masks?: RgbaImage[],
): Promise<RgbaImage> {
  let image: RgbaImage | undefined;
  for await (
    const step of stylize({
      content,
      styles,
      masks,
      options: { network: "squeezenet", maxSize: 256, iterations: 60, seed: 1, ...options },
    })
  ) image = step.image ?? image;
  return image!;
}

const [h, w] = [192, 256];

Deno.test("a mask on the left half: the right stays the photo, the left is as stylized as unmasked, no seam", async () => {
  const content = await sized(await read("golden-gate.jpg"), h, w);
  const starry = await read("starry-night.jpg");
  const left = columns(w, h, (x) => x < w / 2);
  const contentOnly = await result(content, [starry], { styleWeight: 0 });
  const unmasked = await result(content, [starry], {});
  const masked = await result(content, [starry], {}, [left]);

  // The right half: within 4/255 of what a content-only run leaves of the photo.
  const [right0, right1] = [w / 2 + 16, w]; // past the layers' reach of the boundary
  const kept = meanAbsDiff(masked, content, right0, right1);
  const baseline = meanAbsDiff(contentOnly, content, right0, right1);
  assert.ok(
    kept <= baseline + 4,
    `right half moved ${kept.toFixed(2)} (content-only ${baseline.toFixed(2)})`,
  );
  // ...while the unmasked run repainted it.
  assert.ok(meanAbsDiff(unmasked, content, right0, right1) > kept + 10);

  // The left half: as close to the painting, by a judge not in the loss, as unmasked.
  const judge = await getNetwork("googlenet");
  const painting = await judgeGrams(judge, starry);
  const distance = async (image: RgbaImage) =>
    gramDistance(await judgeGrams(judge, cropColumns(image, 0, w / 2 - 16)), painting);
  const [d, dUnmasked, dPhoto] = [
    await distance(masked),
    await distance(unmasked),
    await distance(content),
  ];
  assert.ok(
    Math.abs(d - dUnmasked) <= 0.1 * dUnmasked,
    `left half ${d.toFixed(3)} vs unmasked ${dUnmasked.toFixed(3)}`,
  );
  assert.ok(
    d < 0.9 * dPhoto,
    `the left half carries the style: ${d.toFixed(3)} vs the photo's ${dPhoto.toFixed(3)}`,
  );

  // No hard line along the boundary: its step energy at most 1.5x that of the columns around it.
  const seam = stepEnergy(masked, [w / 2 - 1, w / 2, w / 2 + 1]);
  const around = stepEnergy(
    masked,
    [...Array(24).keys()].map((i) => w / 2 - 40 + i).concat(
      [...Array(24).keys()].map((i) => w / 2 + 16 + i),
    ),
  );
  assert.ok(seam <= 1.5 * around, `boundary ${seam.toFixed(1)} vs around ${around.toFixed(1)}`);
});

Deno.test("two styles, two masks: each half is closer to its own painting than to the other", async () => {
  const content = await sized(await read("golden-gate.jpg"), h, w);
  const [starry, wave] = [await read("starry-night.jpg"), await read("great-wave.jpg")];
  const image = await result(content, [starry, wave], {}, [
    columns(w, h, (x) => x < w / 2),
    columns(w, h, (x) => x >= w / 2),
  ]);
  const judge = await getNetwork("googlenet");
  const [gStarry, gWave] = [await judgeGrams(judge, starry), await judgeGrams(judge, wave)];
  const left = await judgeGrams(judge, cropColumns(image, 0, w / 2 - 16));
  const right = await judgeGrams(judge, cropColumns(image, w / 2 + 16, w));
  const say = (a: number, b: number) => `${a.toFixed(3)} vs ${b.toFixed(3)}`;
  const [ls, lw] = [gramDistance(left, gStarry), gramDistance(left, gWave)];
  const [rs, rw] = [gramDistance(right, gStarry), gramDistance(right, gWave)];
  assert.ok(ls < lw, `left: Starry Night ${say(ls, lw)} Great Wave`);
  assert.ok(rw < rs, `right: Great Wave ${say(rw, rs)} Starry Night`);
});

Deno.test("guided Grams (a style per soft mask): tfjs and ONNX Runtime, whole and tiled, agree", async () => {
  const net = await getNetwork("squeezenet", { pooling: "blur", padding: "reflect" });
  const { loss } = resolveRun(stylizeOptionsSchema.parse({ tvWeight: 1e-4 }), net);
  const [mh, mw] = [101, 131];
  const rgb = (seed: number, hh = mh, ww = mw) =>
    tf.randomUniform([1, hh, ww, 3], 0, 255, "float32", seed) as tf.Tensor4D;
  // A soft left-to-right ramp and its complement: two regions that overlap in the middle.
  const ramp = tf.tidy(() =>
    tf.tile(tf.reshape(tf.linspace(0, 1, 40), [1, 1, 40, 1]), [1, 30, 1, 1])
  ) as tf.Tensor4D;
  const other = tf.sub(1, ramp) as tf.Tensor4D;
  const styleLayers = Object.keys(loss.styleLayers);
  const regions = [
    {
      images: [rgb(2, 90, 120)],
      blend: [1],
      masks: await layerMasks(net, ramp, [mh, mw], styleLayers),
    },
    {
      images: [rgb(4, 70, 80)],
      blend: [1],
      masks: await layerMasks(net, other, [mh, mw], styleLayers),
    },
  ];
  const content = rgb(1);
  const tfjs = tfjsExecutor(net);
  const onnx = onnxExecutor(layersOf(net)!);
  const targets = await stageTargets(tfjs, net, content, regions, loss);
  const terms = wholeImageTerms(loss, targets, [mh, mw]);
  assert.equal(terms.filter((t) => t.kind === "style" && t.mask).length, 2 * styleLayers.length);
  const x = tf.tidy(() =>
    tf.add(net.preprocess(content), tf.randomNormal([1, mh, mw, 3], 0, 20, "float32", 3))
  ) as tf.Tensor4D;
  const reference = tfjs.evaluate(x, terms);
  const want = await reference.values.data();
  const host = await asTiledTargets(targets, content);
  const reach = reachOf(layersOf(net)!, lossLayers(loss));
  for (const executor of [tfjs, onnx]) {
    const tiled = onTensors(
      tiledObjective(executor, net, loss, host, { tile: 2 * reach.stride, reach }),
    );
    for (
      const [how, result] of [["whole", executor.evaluate(x, terms)], [
        "tiled",
        await tiled(x),
      ]] as const
    ) {
      const got = await result.values.data();
      for (let i = 0; i < 4; i++) {
        assert.ok(
          Math.abs(got[i] - want[i]) <= 1e-4 * Math.abs(want[i]),
          `${executor.name} ${how}: term ${i} ${got[i]} vs ${want[i]}`,
        );
      }
      const error = tf.tidy(() =>
        tf.div(tf.norm(tf.sub(result.grad, reference.grad)), tf.norm(reference.grad)).dataSync()[0]
      );
      assert.ok(error <= 1e-4, `${executor.name} ${how}: gradient relative error ${error}`);
      tf.dispose([result.values, result.grad]);
    }
  }
  // The guided term is not the unguided one: the masks change the loss.
  const plain = wholeImageTerms(loss, {
    ...targets,
    styles: targets.styles.map(({ grams, scales }) => ({ grams, scales })),
  }, [mh, mw]);
  const unguided = tfjs.evaluate(x, plain);
  assert.ok(Math.abs(unguided.values.dataSync()[2] - want[2]) > 1e-3 * want[2]);
  tf.dispose([
    ramp,
    other,
    content,
    x,
    reference.values,
    reference.grad,
    unguided.values,
    unguided.grad,
    ...regions.flatMap((r) => r.images),
  ]);
  disposeTargets(targets);
  onnx.release();
});
