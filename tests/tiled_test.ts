/**
 * Tiled evaluation of big stages: the tile geometry, the memory plan, the detail
 * stages, and a tiled stylize() run without seams. (The exact tiled gradient, on
 * every executor: `executors_test.ts`.)
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { ZodError } from "zod";
import { initBackend } from "../src/backend.ts";
import { stylize } from "../src/engine/stylize.ts";
import { stagePlan } from "../src/engine/stages.ts";
import { resolveRun } from "../src/engine/run.ts";
import { asTiledTargets, disposeTargets, stageTargets } from "../src/engine/targets.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import { cuts, type Reach, reachOf, tileGrid } from "../src/executors/tiles.ts";
import { onTensors, tiledObjective, type Tiling } from "../src/executors/tiled.ts";
import { tfjsExecutor } from "../src/executors/tfjs.ts";
import { toHost } from "../src/executors/host_image.ts";
import { lossLayers, wholeImageTerms } from "../src/loss/terms.ts";
import { seamRatio } from "../src/engine/seams.ts";
import { preview } from "../src/engine/preview.ts";
import { planMemory } from "../src/engine/memory.ts";
import { lbfgs } from "../src/engine/lbfgs.ts";
import { layersOf } from "../src/net/graph.ts";
import { getNetwork } from "../src/net/load.ts";
import type { FeatureNetwork } from "../src/net/network.ts";
import { decodeImage } from "../src/image/codec.ts";
import { imageToTensor, resize, tensorToImage } from "../src/image/tensor.ts";

await initBackend("wasm");
const mirror = Deno.env.get("RESTYLE_MIRROR");

const read = async (name: string) => decodeImage(await Deno.readFile(`${mirror}/images/${name}`));

/** `[1, h, w, 3]` RGB of a mirror image, resized. */
async function photo(name: string, h: number, w: number): Promise<tf.Tensor4D> {
  const t = imageToTensor(await read(name));
  const out = resize(t, h, w);
  t.dispose();
  return out;
}

Deno.test("cuts() and tileGrid() split an image into tiles that cover it once, crops on the stride", () => {
  // ⌈100 / 32⌉ = 4 pieces on the stride 8; the first and last have room to move by 8 px.
  assert.deepEqual(cuts(100, 32, 0, 8), [[0, 24], [24, 48], [48, 72], [72, 100]]);
  assert.deepEqual(cuts(100, 32, 8, 8), [[0, 32], [32, 56], [56, 80], [80, 100]]);
  assert.deepEqual(cuts(100, 32, 16, 8), cuts(100, 32, 0, 8));
  // No slack: a shifted grid is the still one (a shift never adds a row of tiles).
  assert.deepEqual(cuts(1024, 512, 256, 16), [[0, 512], [512, 1024]]);
  assert.deepEqual(cuts(300, 512, 64, 16), [[0, 300]]);
  for (const size of [100, 257, 1000, 4096]) {
    for (let offset = 0; offset < 448; offset += 16) {
      const pieces = cuts(size, 448, offset, 16);
      assert.equal(pieces.length, Math.ceil(size / 448));
      assert.deepEqual([pieces[0][0], pieces.at(-1)![1]], [0, size]);
      for (const [i, [start, end]] of pieces.entries()) {
        assert.ok(end - start <= 448 && end - start >= 16, `${size} @${offset}: ${start}..${end}`);
        if (i > 0) assert.equal(start, pieces[i - 1][1]);
        if (i > 0) assert.equal(start % 16, 0);
      }
    }
  }
  const reach = { stride: 16, halo: 32, strides: {}, channels: {}, bytesPerPixel: 1 };
  const tiles = tileGrid([150, 203], 64, reach, [16, 48]);
  const owner = new Uint8Array(150 * 203);
  for (const t of tiles) {
    for (let y = t.top; y < t.bottom; y++) {
      for (let x = t.left; x < t.right; x++) owner[y * 203 + x]++;
    }
    for (const edge of [t.cropTop, t.cropLeft]) assert.equal(edge % 16, 0);
    assert.equal(t.cropTop, Math.max(0, t.top - 32));
    assert.equal(t.cropRight, Math.min(203, t.right + 32));
  }
  assert.ok(owner.every((n) => n === 1), "every pixel owned by exactly one tile");
  assert.throws(() => tileGrid([150, 203], 60, reach), /multiples of the stride 16/);

  // Uniform crops (an executor that compiles a graph per size): one crop size for every
  // tile, each on the stride, holding its tile and halo (or the image's border).
  for (const offset of [[0, 0], [16, 48], [32, 16]] as const) {
    const uniform = tileGrid([150, 203], 32, reach, offset, true);
    assert.equal(uniform.length, tileGrid([150, 203], 32, reach, offset).length);
    const shapes = new Set(
      uniform.map((t) => `${t.cropBottom - t.cropTop}x${t.cropRight - t.cropLeft}`),
    );
    // 32 + 2·32 + (150 mod 16) rows, 32 + 2·32 + (203 mod 16) columns.
    assert.deepEqual([...shapes], ["102x107"]);
    for (const t of uniform) {
      for (const edge of [t.cropTop, t.cropLeft]) assert.equal(edge % 16, 0);
      assert.ok(
        t.cropTop <= Math.max(0, t.top - 32) && t.cropBottom >= Math.min(150, t.bottom + 32),
      );
      assert.ok(
        t.cropLeft <= Math.max(0, t.left - 32) && t.cropRight >= Math.min(203, t.right + 32),
      );
      assert.ok(t.cropBottom <= 150 && t.cropRight <= 203);
    }
  }
});

Deno.test({
  name: "reachOf() walks SqueezeNet's windows: fire7 has stride 16 and needs an 80 px halo",
  ignore: !mirror,
  async fn() {
    const network = await getNetwork("squeezenet", { padding: "reflect", pooling: "blur" });
    const graph = layersOf(network)!;
    // conv1 3x3/2 and pool1 3x3/2 reach 0 px before and 6 after; each fire module's 3x3
    // expand adds 1 position (stride 4: 4 px, stride 8: 8 px, stride 16: 16 px) on each
    // side, each pool 2 positions after: fire7's window spans 56 px before, 86 after.
    const reach = reachOf(graph, ["conv1", "fire7/concat"]);
    assert.equal(reach.stride, 16);
    assert.deepEqual(reach.strides, { conv1: 2, "fire7/concat": 16 });
    assert.equal(reach.halo, 80); // max(56, 86 - 16 + 1) = 71, up to a multiple of 16
    assert.equal(reachOf(graph, ["fire5/concat"]).halo, 32);
  },
});

/** The objective of `network`'s default preset (or `layers`) at `[h, w]`, tiled on tfjs. */
async function tiledOnly(
  network: FeatureNetwork,
  h: number,
  w: number,
  tile: number,
  layers: object = {},
) {
  const { loss } = resolveRun(
    stylizeOptionsSchema.parse({ network: network.id, tvWeight: 1, ...layers }),
    network,
  );
  const reach = reachOf(layersOf(network)!, lossLayers(loss));
  const executor = tfjsExecutor(network);
  const rgb = resize(contentRgb, h, w);
  const style = resize(styleRgb, 160, 256);
  const targets = await stageTargets(
    executor,
    network,
    rgb,
    [{ images: [style], blend: [1] }],
    loss,
  );
  const host = await asTiledTargets(targets, rgb);
  const content = network.preprocess(rgb);
  style.dispose();
  return {
    reach,
    content,
    whole: (x: tf.Tensor4D) => executor.evaluate(x, wholeImageTerms(loss, targets, [h, w])),
    tiled: (tiling: Partial<Tiling> = {}) =>
      onTensors(tiledObjective(executor, network, loss, host, { tile, reach, ...tiling })),
    dispose: () => (tf.dispose([rgb, content]), disposeTargets(targets)),
  };
}

let contentRgb: tf.Tensor4D, styleRgb: tf.Tensor4D;
if (mirror) {
  contentRgb = await photo("golden-gate.jpg", 298, 640);
  styleRgb = await photo("starry-night.jpg", 320, 512);
}

Deno.test("stagePlan() adds detail stages up to the content's own size, or maxDetailSize", () => {
  const plan = (options: object, side: number) =>
    stagePlan(stylizeOptionsSchema.parse(options), side).map((s) =>
      `${s.size}${s.detail ? "d" : ""}x${s.iterations}`
    );
  assert.deepEqual(plan({}, 3000), ["256x50", "512x50", "1024dx10", "2048dx10", "3000dx10"]);
  assert.deepEqual(plan({}, 512), ["256x50", "512x50"]);
  assert.deepEqual(plan({}, 600), ["256x50", "512x50", "600dx10"]);
  // Doubling to 2048 would leave a stage barely below 2100: it goes straight there.
  assert.deepEqual(plan({ detailIterations: 4 }, 2100), ["256x50", "512x50", "1024dx4", "2100dx4"]);
  assert.deepEqual(plan({ maxDetailSize: 1200 }, 3000), ["256x50", "512x50", "1200dx10"]);
  assert.deepEqual(plan({ maxDetailSize: 512 }, 3000), ["256x50", "512x50"]);
  assert.deepEqual(plan({ scales: [300], iterations: 7 }, 400), ["300x7", "400dx10"]);
});

/** The plan of a run whose only stage is `side`² (its content that size too). */
function planOne(side: number, reach: Reach, budget: number) {
  return planMemory([[side, side]], [side, side], reach, budget, "lbfgs", 10)[0];
}

Deno.test("planMemory() runs a stage whole when it fits, else in tiles, shortening the history before tiles get mostly halo", () => {
  const reach = { stride: 16, halo: 80, strides: {}, channels: {}, bytesPerPixel: 1000 };
  const MiB = 2 ** 20;
  const whole = planOne(512, reach, 3072);
  assert.deepEqual([whole.tile, whole.historySize, whole.hostBytes], [null, 10, 0]);
  // 4096 px: one vector is 192 MiB; 6 + 2m of them in host memory, the content and a tile's
  // pass on the device.
  const big = planOne(4096, reach, 4096);
  assert.deepEqual([big.tile, big.historySize], [512, 6]);
  assert.ok(big.deviceBytes + big.hostBytes <= 4096 * MiB, `${big.deviceBytes / MiB} MiB`);
  // A tile of 2·80/(√2 - 1) = 386 px or more keeps a crop within twice its tile's area ...
  const tight = planOne(4096, reach, 2048);
  assert.deepEqual([tight.tile, tight.historySize], [416, 1]);
  // ... and when not even one pair leaves room for that, the tile shrinks.
  const tighter = planOne(4096, reach, 1900);
  assert.deepEqual([tighter.tile, tighter.historySize], [256, 1]);
  const mid = planOne(2048, reach, 3072);
  assert.deepEqual([mid.tile, mid.historySize], [1200, 10]);
  assert.throws(
    () => planOne(4096, reach, 1024),
    (e: ZodError) =>
      e.issues[0].path.join(".") === "options.memoryBudget" &&
      /^1024 MiB cannot hold a 4096x4096 stage \(it needs at least \d+ MiB\)/.test(
        e.issues[0].message,
      ),
  );
});

Deno.test("planMemory() keeps every stage of a run within the device share its largest stage leaves", () => {
  // The wasm heap keeps its largest size: a 1024 px stage run whole would leave 3 GiB there,
  // under the 4096 px stage's host vectors.
  const reach = { stride: 16, halo: 80, strides: {}, channels: {}, bytesPerPixel: 2668 };
  const MiB = 2 ** 20;
  const sides = [256, 512, 1024, 2048, 4096];
  const plans = planMemory(sides.map((s) => [s, s]), [4096, 4096], reach, 3072, "lbfgs", 10);
  assert.deepEqual(plans.map((p) => [p.tile, p.historySize]), [
    [null, 10],
    [null, 10],
    [448, 10],
    [448, 10],
    [448, 2],
  ]);
  const device = Math.max(...plans.map((p) => p.deviceBytes));
  const host = Math.max(...plans.map((p) => p.hostBytes));
  assert.ok(device + host <= 3072 * MiB, `${device / MiB} + ${host / MiB} MiB`);
});

Deno.test({
  name:
    "stylize() refuses a memoryBudget too small for a detail stage before any work, naming the field",
  ignore: !mirror,
  async fn() {
    const content = await tensorToImage(resize(contentRgb, 298, 640), null);
    const style = await tensorToImage(resize(styleRgb, 100, 160), null);
    const before = tf.memory().numTensors;
    let steps = 0;
    await assert.rejects(
      async () => {
        for await (
          const _ of stylize({
            content,
            styles: [style],
            options: { maxSize: 64, scales: [64], iterations: 1, memoryBudget: 16 },
          })
        ) steps++;
      },
      (e: ZodError) =>
        e instanceof ZodError && e.issues[0].path.join(".") === "options.memoryBudget" &&
        /16 MiB cannot hold a \d+x\d+ stage/.test(e.issues[0].message),
    );
    assert.equal(steps, 0, "refused before the first stage ran");
    assert.equal(tf.memory().numTensors, before);
  },
});

/** Shallow layers (halo 8 px): a small image already makes several tiles. */
const SHALLOW = {
  contentLayers: { "fire2/concat": 1 },
  styleLayers: { conv1: 1, "fire2/concat": 1 },
};

Deno.test({
  name:
    "stylize() past maxSize runs a detail stage at the content's size, tiled within a small budget, as it would whole",
  ignore: !mirror,
  async fn() {
    const content = await tensorToImage(resize(contentRgb, 150, 200), null);
    const style = await tensorToImage(resize(styleRgb, 100, 160), null);
    const run = async (memoryBudget: number) => {
      const steps = [];
      let tiles = 0;
      for await (
        const step of stylize({
          content,
          styles: [style],
          onTile: (p) => (tiles = Math.max(tiles, p.tiles)),
          options: {
            ...SHALLOW,
            maxSize: 64,
            scales: [64],
            iterations: 3,
            detailIterations: 2,
            previewEvery: 100,
            memoryBudget,
          },
        })
      ) steps.push(step);
      return { steps, tiles };
    };
    await run(1000); // the first run loads the network and fills its kernel caches
    const before = tf.memory().numTensors;
    const tiled = await run(20);
    const whole = await run(1000);
    assert.equal(tf.memory().numTensors, before);
    assert.equal(whole.tiles, 0);
    assert.ok(tiled.tiles >= 4, `${tiled.tiles} tiles`);
    // 64 px, then 128 (a detail stage on the way), then the content's 200 px.
    assert.equal(tiled.steps.length, 3 + 2 + 2);
    const last = tiled.steps.at(-1)!;
    assert.deepEqual([last.image!.width, last.image!.height], [200, 150]);
    for (const [i, step] of tiled.steps.entries()) {
      const [a, b] = [step.losses.total, whole.steps[i].losses.total];
      assert.ok(Math.abs(a - b) <= 1e-3 * b, `iteration ${i + 1}: tiled ${a}, whole ${b}`);
    }
  },
});

Deno.test({
  name:
    "preview() of a full-size image in host memory, made band by band, is the whole tensor's, colours and alpha kept",
  ignore: !mirror,
  async fn() {
    const network = await getNetwork("squeezenet", { padding: "reflect", pooling: "blur" });
    const [h, w] = [150, 200];
    const rgb = await photo("golden-gate.jpg", h, w);
    const content = await tensorToImage(rgb, null);
    // A soft alpha ramp, as a layer with a mask would have.
    const alpha = new Uint8Array(h * w).map((_, p) => (p * 7) % 256);
    const x = tf.tidy(() =>
      tf.add(network.preprocess(rgb), tf.randomNormal(rgb.shape, 0, 30, "float32", 2))
    ) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    for (const colorMode of [null, "luminance"] as const) {
      const whole = await preview(network, x, content, colorMode, alpha);
      // 150 rows in bands of 64: two full bands and a short one.
      const banded = await preview(network, await toHost(x), content, colorMode, alpha, 64);
      assert.deepEqual([banded.width, banded.height], [w, h]);
      assert.deepEqual(banded.data, whole.data, `colorMode ${colorMode}`);
      assert.equal(banded.data[4 * 151 + 3], alpha[151]);
    }
    // A smaller image (an early stage) is brought to the content's size.
    const small = tf.tidy(() => resize(x, 75, 100));
    const upscaled = await preview(network, await toHost(small), content, null, null);
    assert.deepEqual([upscaled.width, upscaled.height], [w, h]);
    assert.equal(tf.memory().numTensors, before + 1);
    tf.dispose([rgb, x, small]);
  },
});

Deno.test({
  name: "optimising over a still tile grid leaves no seam where tiles meet; without halos it does",
  ignore: !mirror,
  async fn() {
    const network = await getNetwork("squeezenet", { padding: "zero", pooling: "max" });
    // 8 x 12 tiles of 24 px: the grid has no slack, its edges are on multiples of 24.
    const o = await tiledOnly(network, 192, 288, 24, SHALLOW);
    const grid = tileGrid([192, 288], 24, o.reach);
    assert.equal(grid.length, 8 * 12);
    const run = async (halo: number) => {
      const objective = o.tiled({ shift: false, reach: { ...o.reach, halo } });
      const optimizer = await lbfgs(objective, o.content);
      for (let i = 0; i < 8; i++) await optimizer.step();
      // What the optimiser painted: the photo's own edges would only add noise.
      const painted = tf.sub(optimizer.x, o.content) as tf.Tensor4D;
      const ratio = seamRatio(await toHost(painted), grid, o.reach.stride);
      tf.dispose([painted]);
      optimizer.dispose();
      return ratio;
    };
    assert.equal(o.reach.halo, 8);
    const exact = await run(o.reach.halo);
    assert.ok(exact <= 1.1, `seam energy ratio ${exact}`);
    // Zero padding at every crop edge: the tiles' borders are painted.
    const seamy = await run(0);
    assert.ok(seamy > 1.1, `without halos the seams show: ratio ${seamy}`);
    o.dispose();
  },
});
