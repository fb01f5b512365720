import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { ZodError } from "zod";
import { initBackend } from "../src/backend.ts";
import { stylize, type StylizeInput, type StylizeStep } from "../src/engine/stylize.ts";
import { resolveRun } from "../src/engine/run.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { matchColors, rgbToYiq } from "../src/engine/color.ts";
import { decodeImage } from "../src/image/codec.ts";
import { imageToTensor } from "../src/image/tensor.ts";
import type { RgbaImage } from "../src/image/image.ts";
import { getNetwork } from "../src/net/load.ts";
import { rampImage, tinyNetwork } from "./_tiny_net.ts";

await initBackend();
const mirror = Deno.env.get("RESTYLE_MIRROR");

async function collect(input: StylizeInput): Promise<StylizeStep[]> {
  const steps: StylizeStep[] = [];
  for await (const step of stylize(input)) steps.push(step);
  return steps;
}

const content = rampImage(20, 12, (x, y) => (x + y) % 5 === 0 ? 0 : 200);
const style = rampImage(16, 16);

Deno.test("stylize() yields every iteration, previews at the content's size with its alpha", async () => {
  const network = tinyNetwork();
  const steps = await collect({
    content,
    styles: [style],
    network,
    // maxDetailSize 16: one stage, its result upscaled (the detail stages have their own test).
    options: { maxSize: 16, maxDetailSize: 16, iterations: 5, previewEvery: 2, seed: 3 },
  });
  assert.deepEqual(steps.map((s) => s.iteration), [1, 2, 3, 4, 5]);
  assert.ok(steps.every((s) => s.iterations === 5));
  assert.deepEqual(steps.filter((s) => s.image).map((s) => s.iteration), [2, 4, 5]);
  for (const { image } of steps.filter((s) => s.image)) {
    assert.equal(image!.width, 20);
    assert.equal(image!.height, 12);
    for (let p = 0; p < 20 * 12; p++) assert.equal(image!.data[p * 4 + 3], content.data[p * 4 + 3]);
  }
  for (const { losses } of steps) {
    assert.ok(
      Math.abs(losses.total - (losses.content + losses.style + losses.tv)) < 1e-3 * losses.total,
    );
  }
  assert.ok(steps[4].losses.total < steps[0].losses.total);
  assert.ok(steps[4].elapsedMs >= steps[0].elapsedMs);
  network.dispose();
});

Deno.test("stylize() frees every tensor it made after a finished run", async () => {
  const network = tinyNetwork();
  const before = tf.memory().numTensors;
  await collect({
    content,
    styles: [style, rampImage(10, 14)],
    network,
    options: { maxSize: 16, iterations: 4, scales: [16, 24], preserveColors: "match", seed: 1 },
  });
  assert.equal(tf.memory().numTensors, before);
  network.dispose();
});

Deno.test("stylize() frees every tensor and rethrows when the network fails mid-run", async () => {
  const network = tinyNetwork({ failOnCall: 6 });
  const before = tf.memory().numTensors;
  await assert.rejects(
    collect({ content, styles: [style], network, options: { maxSize: 16, iterations: 10 } }),
    /failed on purpose/,
  );
  assert.equal(tf.memory().numTensors, before);
  network.dispose();
});

Deno.test("stylize() stops within one iteration when aborted and throws the signal's reason", async () => {
  const network = tinyNetwork();
  const before = tf.memory().numTensors;
  const controller = new AbortController();
  const seen: number[] = [];
  await assert.rejects(
    (async () => {
      for await (
        const step of stylize({
          content,
          styles: [style],
          network,
          signal: controller.signal,
          options: { maxSize: 16, iterations: 50 },
        })
      ) {
        seen.push(step.iteration);
        if (step.iteration === 2) controller.abort();
      }
    })(),
    (error: DOMException) => error.name === "AbortError",
  );
  assert.deepEqual(seen, [1, 2]);
  assert.equal(tf.memory().numTensors, before);
  network.dispose();
});

Deno.test("stylize() frees everything when the caller stops iterating early", async () => {
  const network = tinyNetwork();
  const before = tf.memory().numTensors;
  for await (
    const step of stylize({ content, styles: [style], network, options: { maxSize: 16 } })
  ) {
    if (step.iteration === 3) break;
  }
  assert.equal(tf.memory().numTensors, before);
  network.dispose();
});

Deno.test("stylize() rejects invalid options naming the field", async () => {
  const network = tinyNetwork();
  const run = (options: StylizeInput["options"], styles = [style]) =>
    collect({ content, styles, network, options });
  await assert.rejects(run({ iterations: 0 }), (e: ZodError) => {
    assert.ok(e instanceof ZodError);
    assert.deepEqual(e.issues[0].path, ["iterations"]);
    return true;
  });
  const isZodError = (e: unknown) => e instanceof ZodError;
  await assert.rejects(run({ optimizer: "sgd" as "adam" }), isZodError);
  await assert.rejects(run({ bogus: 1 } as StylizeInput["options"]), isZodError);
  await assert.rejects(run({ styleWeights: [1, 2] }), /styleWeights.*one weight per style image/s);
  await assert.rejects(run({ init: "image" }), /initImage/);
  await assert.rejects(run({}, []), /at least one style image/);
  const issue = (path: string, message: RegExp) => (e: ZodError) => {
    assert.ok(e instanceof ZodError);
    assert.deepEqual(e.issues[0].path, path.split("."));
    assert.match(e.issues[0].message, message);
    return true;
  };
  await assert.rejects(
    run({ styleLayers: { nope: 1 } }),
    issue("options.styleLayers", /unknown layer "nope"/),
  );
  await assert.rejects(run({ preset: "nope" }), issue("options.preset", /unknown preset "nope"/));
  network.dispose();
});

Deno.test("strength 50 keeps the preset's style weight; each 25 scales it tenfold", () => {
  const network = tinyNetwork();
  try {
    const preset = network.presets.default.styleWeight;
    const weight = (options: object) =>
      resolveRun(stylizeOptionsSchema.parse(options), network).loss.styleWeight;
    assert.equal(weight({}), preset);
    assert.equal(weight({ strength: 50 }), preset);
    assert.ok(Math.abs(weight({ strength: 75 }) / preset - 10) < 1e-9);
    assert.ok(Math.abs(weight({ strength: 0 }) / preset - 0.01) < 1e-12);
    assert.ok(Math.abs(weight({ styleWeight: 3, strength: 25 }) - 0.3) < 1e-12);
    assert.throws(() => stylizeOptionsSchema.parse({ strength: 101 }), /strength/);
  } finally {
    network.dispose();
  }
});

Deno.test("stylize() from noise with the same seed produces the same image, another seed another", async () => {
  const network = tinyNetwork();
  const last = async (seed: number) => {
    const steps = await collect({
      content,
      styles: [style],
      network,
      options: { maxSize: 16, iterations: 3, seed, init: "noise" },
    });
    return steps.at(-1)!.image!.data;
  };
  assert.deepEqual(await last(42), await last(42));
  assert.notDeepEqual(await last(42), await last(43));
  network.dispose();
});

Deno.test("stylize() runs Adam, init from content or an image, and coarse-to-fine stages", async () => {
  const network = tinyNetwork();
  const steps = await collect({
    content,
    styles: [style],
    network,
    initImage: rampImage(7, 9),
    options: {
      iterations: 5,
      scales: [16, 24],
      optimizer: "adam",
      init: "image",
      previewEvery: 100,
    },
  });
  assert.deepEqual(steps.map((s) => s.iteration), [1, 2, 3, 4, 5]);
  assert.deepEqual(steps.filter((s) => s.image).map((s) => s.iteration), [5]);
  const fromContent = await collect({
    content,
    styles: [style],
    network,
    options: { maxSize: 16, iterations: 1, init: "content", styleWeight: 0, tvWeight: 0 },
  });
  assert.ok(fromContent[0].losses.content < 1e-3, `content loss ${fromContent[0].losses.content}`);
  network.dispose();
});

Deno.test("preserveColors keeps the content's chroma (luminance-only transfer)", async () => {
  const network = tinyNetwork();
  const opaque = rampImage(16, 16);
  const steps = await collect({
    content: opaque,
    styles: [rampImage(16, 16, () => 255)],
    network,
    options: { maxSize: 16, iterations: 2, preserveColors: true, seed: 5 },
  });
  const iq = (image: RgbaImage) =>
    tf.tidy(() => tf.slice(rgbToYiq(imageToTensor(image)), [0, 0, 0, 1], [-1, -1, -1, 2]));
  const [want, got] = [iq(opaque), iq(steps.at(-1)!.image!)];
  const diff = tf.tidy(() => tf.mean(tf.abs(tf.sub(want, got))).dataSync()[0]);
  assert.ok(diff < 4, `mean |ΔIQ| = ${diff}`); // rounding, and clipping at saturated pixels
  tf.dispose([want, got]);
  network.dispose();
});

Deno.test("matchColors() gives the style the content's colour mean and covariance", async () => {
  const style = imageToTensor(rampImage(24, 20));
  const content = tf.tidy(() =>
    tf.add(tf.mul(imageToTensor(rampImage(30, 10)), 0.4), tf.tensor1d([60, 20, 90]))
  );
  const matched = await matchColors(style, content as tf.Tensor4D);
  const stats = (t: tf.Tensor) =>
    tf.tidy(() => {
      const flat = tf.reshape(t, [-1, 3]);
      const mean = tf.mean(flat, 0);
      const centred = tf.sub(flat, mean);
      return [
        ...mean.dataSync(),
        ...tf.div(tf.matMul(centred, centred, true), flat.shape[0]).dataSync(),
      ];
    });
  const [want, got] = [stats(content), stats(matched)];
  want.forEach((w, i) =>
    assert.ok(Math.abs(w - got[i]) < 0.5 + 0.01 * Math.abs(w), `${i}: ${w} vs ${got[i]}`)
  );
  tf.dispose([style, content, matched]);
});

Deno.test({
  name: "stylize() with SqueezeNet at 128 px cuts its loss and carries the style's colours",
  ignore: !mirror,
  async fn() {
    const read = async (name: string) =>
      decodeImage(await Deno.readFile(`${mirror}/images/${name}`));
    const [cat, starry] = await Promise.all([read("cat.png"), read("starry-night.jpg")]);
    const network = await getNetwork("squeezenet");
    // A first short run fills the network's lazily built caches (backward kernels).
    await collect({
      content: cat,
      styles: [starry],
      network,
      options: { maxSize: 32, iterations: 1 },
    });
    const before = tf.memory().numTensors;
    const steps = await collect({
      content: cat,
      styles: [starry],
      network,
      options: { network: "squeezenet", maxSize: 128, iterations: 50, previewEvery: 50, seed: 7 },
    });
    const [first, last] = [steps[0].losses, steps.at(-1)!.losses];
    assert.ok(last.total < 0.5 * first.total, `total ${first.total} -> ${last.total}`);
    assert.ok(last.style < 0.2 * first.style, `style ${first.style} -> ${last.style}`);
    // Starry Night is blue: the result's mean blue exceeds its mean red, unlike the cat's.
    const image = steps.at(-1)!.image!;
    assert.equal(image.width, cat.width);
    assert.equal(image.height, cat.height);
    const mean = (img: typeof image, c: number) => {
      let sum = 0;
      for (let p = c; p < img.data.length; p += 4) sum += img.data[p];
      return sum / (img.width * img.height);
    };
    assert.ok(mean(cat, 2) < mean(cat, 0), "fixture: the cat is warmer than it is blue");
    assert.ok(mean(image, 2) > mean(image, 0), `result R ${mean(image, 0)} B ${mean(image, 2)}`);
    assert.equal(tf.memory().numTensors, before);
  },
});

Deno.test({
  name:
    "stylize() with SqueezeNet at 128 px, style-led as in the reference, cuts its loss below 10 %",
  ignore: !mirror,
  async fn() {
    // The default preset balances content against style, so its total levels off near a
    // third of where it starts. With the style term leading (as VGG16's reference set-up
    // does, where the style loss dwarfs the content loss at the noise start), 50 L-BFGS
    // iterations take the total below a tenth of its first value (no TV term, as there).
    const read = async (name: string) =>
      decodeImage(await Deno.readFile(`${mirror}/images/${name}`));
    const [cat, starry] = await Promise.all([read("cat.png"), read("starry-night.jpg")]);
    const steps = await collect({
      content: cat,
      styles: [starry],
      network: await getNetwork("squeezenet"),
      options: {
        maxSize: 128,
        maxDetailSize: 128,
        iterations: 50,
        previewEvery: 50,
        seed: 7,
        styleWeight: 100,
        tvWeight: 0,
      },
    });
    const [first, last] = [steps[0].losses, steps.at(-1)!.losses];
    assert.equal(steps.length, 50);
    assert.ok(last.total < 0.1 * first.total, `total ${first.total} -> ${last.total}`);
    assert.ok(last.content > 0, "the content term still takes part");
  },
});
