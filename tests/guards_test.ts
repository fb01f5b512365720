/**
 * The engine's guards: layer sets, loss terms and the smallest image each
 * network's layers need, computed from the layer graph and checked against the
 * shapes a real forward pass produces.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { ZodError } from "zod";
import { initBackend } from "../src/backend.ts";
import { checkRun, minimumSide, runImages } from "../src/engine/guards.ts";
import { type StylizeOptionsInput, stylizeOptionsSchema } from "../src/engine/options.ts";
import { stylize } from "../src/engine/stylize.ts";
import { getNetwork } from "../src/net/load.ts";
import { networkShape } from "../src/net/shape.ts";
import { PRESETS } from "../src/net/presets.ts";
import { rampImage } from "./_tiny_net.ts";

await initBackend();
const squeezenet = (await networkShape("squeezenet"))!;
const googlenet = (await networkShape("googlenet"))!;

/** The issues `checkRun` raises, as `path: message`. */
function issues(
  options: StylizeOptionsInput,
  content: [number, number] = [256, 256],
  styles: [number, number][] = [[256, 256]],
  network = squeezenet,
): string[] {
  const size = ([width, height]: [number, number]) => ({ width, height });
  try {
    checkRun(
      network,
      stylizeOptionsSchema.parse(options),
      runImages(size(content), styles.map(size)),
    );
    return [];
  } catch (error) {
    assert.ok(error instanceof ZodError, String(error));
    return error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  }
}

Deno.test("the graph's sizes match the shapes a real forward pass produces", async () => {
  for (const [id, sides] of [["squeezenet", [17, 23, 40]], ["googlenet", [31, 36]]] as const) {
    const net = await getNetwork(id);
    const shape = id === "squeezenet" ? squeezenet : googlenet;
    for (const side of sides) {
      const x = tf.zeros([1, side, side + 5, 3]) as tf.Tensor4D;
      const blobs = net.features(x, net.layers);
      const predicted = shape.outputSizes!([side, side + 5], net.layers);
      for (const layer of net.layers) {
        assert.deepEqual(
          predicted[layer],
          blobs[layer].shape.slice(1, 3),
          `${id} ${layer} at ${side}x${side + 5}`,
        );
      }
      tf.dispose([x, ...Object.values(blobs)]);
    }
  }
});

Deno.test("minimumSide() is the smallest input at which every layer keeps a pixel", () => {
  assert.equal(minimumSide(squeezenet, ["fire7/concat"]), 17); // the issue's measured limit
  assert.equal(minimumSide(squeezenet, ["conv1", "fire3/concat"]), 5);
  assert.equal(minimumSide(googlenet, ["inception_5b/output"]), 31);
  const [h, w] = squeezenet.outputSizes!([16, 16], ["fire7/concat"])["fire7/concat"];
  assert.ok(h < 1 && w < 1, "at 16 px fire7 has no pixel left");
});

Deno.test("a content image too small or thin for the layers is refused naming the size that works", () => {
  // 1200x24 at maxSize 512 is worked on at 512x10; fire7/concat needs 17.
  const [thin] = issues({ maxSize: 512 }, [1200, 24]);
  assert.match(thin, /^options\.maxSize: .*512x10.*fire7\/concat.*17 px: use 825 or more$/);
  // Nothing up to the largest maxSize makes 4000x1 workable: the image itself is named.
  assert.match(issues({}, [4000, 1])[0], /^content: .*largest size allowed \(2048\).*too thin/);
  // A caller that serves less (a server) has the size it suggests, or gives up at, within it.
  const within = (limit: number) => {
    const options = stylizeOptionsSchema.parse({ maxSize: 512 });
    const images = runImages({ width: 1200, height: 24 }, [{ width: 256, height: 256 }]);
    try {
      checkRun(squeezenet, options, images, { maxSize: limit });
    } catch (error) {
      return (error as ZodError).issues.map((i) => `${i.path.join(".")}: ${i.message}`)[0];
    }
  };
  assert.match(within(1024)!, /^options\.maxSize: .*use 825 or more$/);
  assert.match(within(800)!, /^content: .*even at the largest size allowed \(800\) it is too thin/);
  assert.match(issues({ maxSize: 16 }, [16, 16])[0], /^options\.maxSize: .*use 17 or more/);
  assert.match(
    issues({ scales: [16, 256] }, [300, 300])[0],
    /^options\.scales\.0: .*use 17 or more/,
  );
  // Shallower layers need less: fire3/concat alone works at 16 px.
  assert.deepEqual(
    issues({ maxSize: 16, styleLayers: { "fire3/concat": 1 } }, [16, 16], [[16, 16]]),
    [],
  );
  // The exact limit passes.
  assert.deepEqual(issues({ maxSize: 64 }, [64, 17], [[64, 64]]), []);
});

Deno.test("a style image too thin for the style layers is refused, naming styleScale or the image", () => {
  assert.match(
    issues({ maxSize: 64, styleScale: 0.25 }, [64, 64], [[64, 64]])[0],
    /^options\.styleScale: .*use styleScale 0\.26 or more/,
  );
  assert.match(issues({}, [256, 256], [[256, 256], [3000, 2]])[0], /^styles\.1: .*style image/);
});

Deno.test("empty layer sets, zero weights, unknown layers and presets are refused naming the field", () => {
  assert.match(issues({ contentLayers: {} })[0], /^options\.contentLayers: .*no layer/);
  assert.match(issues({ styleLayers: { conv1: 0 } })[0], /^options\.styleLayers: .*no layer/);
  // An empty set is fine when its term is off, as long as the other term is on.
  assert.deepEqual(issues({ contentLayers: {}, contentWeight: 0 }), []);
  assert.deepEqual(
    issues({ contentWeight: 0, styleWeight: 0 }).map((i) => i.split(":")[0]),
    ["options.contentWeight", "options.styleWeight"],
  );
  assert.match(issues({ styleWeights: [0] })[0], /^options\.styleWeights: at least one/);
  assert.match(issues({ styleLayers: { nope: 1 } })[0], /^options\.styleLayers: unknown layer/);
  assert.match(
    issues({ contentLayers: { constructor: 1 } })[0],
    /^options\.contentLayers: unknown layer "constructor"/,
  );
  for (const preset of ["constructor", "toString", "__proto__", "hasOwnProperty"]) {
    assert.match(issues({ preset })[0], /^options\.preset: unknown preset/, preset);
  }
});

Deno.test("stylize() refuses a 64x16 image at maxSize 64 before any tensor, and runs 64x17", async () => {
  const style = rampImage(32, 32);
  // The network stylize() builds for the default preset, loaded once beforehand: its weights stay.
  // The network stylize() builds for the default preset, loaded beforehand: its weights stay.
  const { pooling, padding } = PRESETS.squeezenet.default;
  await getNetwork("squeezenet", { pooling, padding });
  const before = tf.memory().numTensors;
  await assert.rejects(
    async () => {
      for await (
        const _ of stylize({
          content: rampImage(64, 16),
          styles: [style],
          options: { maxSize: 64, iterations: 1 },
        })
      ) { /* refused before the first step */ }
    },
    (e: ZodError) => e instanceof ZodError && e.issues[0].path.join(".") === "options.maxSize",
  );
  await assert.rejects(
    async () => {
      for await (
        const _ of stylize({
          content: rampImage(64, 64),
          styles: [style],
          options: { contentLayers: {} },
        })
      ) { /* refused */ }
    },
    (e: ZodError) => e instanceof ZodError && /contentLayers/.test(e.issues[0].path.join(".")),
  );
  assert.equal(tf.memory().numTensors, before);
  let last = 0;
  for await (
    const step of stylize({
      content: rampImage(64, 17),
      styles: [style],
      options: { maxSize: 64, iterations: 2 },
    })
  ) last = step.losses.total;
  assert.ok(Number.isFinite(last) && last > 0, `loss ${last}`);
});
