/**
 * Fuzzing the job API with a seeded PRNG (repeatable: set FUZZ_SEED to try
 * another run): hundreds of mutated or random images (truncated, bit-flipped,
 * huge or zero declared sizes, GIF frames outside their canvas) and option
 * objects (wrong types, out-of-range values, unknown keys, prototype names,
 * empty layer sets) against a real server. No answer may be a 5xx, the server
 * must keep serving, and every 4xx must be a problem+json naming a field.
 * Requests that pass validation are tiny (1-2 iterations at most 48 px) and
 * must then run to `done`: a job accepted with 202 that fails is a check
 * missed at submission.
 */
import assert from "node:assert/strict";
import { Image } from "imagescript";
import { encodeGif } from "../src/image/codec.ts";
import { encodePng, gradientWithAlpha, testServer } from "./_server.ts";

const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 20260901);
const IMAGE_CASES = 180;
const OPTION_CASES = 180;

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = prng(SEED);
const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
const pick = <T>(items: readonly T[]): T => items[int(0, items.length - 1)];

// Seed images, each small: PNG with alpha, JPEG, GIF, and a thin PNG.
const seeds: Record<string, Uint8Array> = {
  png: await encodePng(gradientWithAlpha(40, 30)),
  jpeg: await (() => {
    const image = new Image(36, 28);
    image.fill((x, y) => (((x * 7) & 0xff) << 24 | ((y * 9) & 0xff) << 16 | 0x80ff) >>> 0);
    return image.encodeJPEG(85);
  })(),
  gif: await encodeGif([gradientWithAlpha(24, 20), gradientWithAlpha(24, 20)]),
  thin: await encodePng(gradientWithAlpha(300, 3)),
};

/** One mutated or random image, with what was done to it. */
function fuzzImage(): { bytes: Uint8Array; what: string } {
  const [kind, seed] = pick(Object.entries(seeds));
  const bytes = seed.slice();
  const view = new DataView(bytes.buffer);
  switch (int(0, 7)) {
    case 0: {
      const at = int(0, bytes.length - 1);
      return { bytes: bytes.subarray(0, at), what: `${kind} truncated at ${at}` };
    }
    case 1:
    case 2: {
      const flips = int(1, 24);
      for (let i = 0; i < flips; i++) bytes[int(0, bytes.length - 1)] ^= 1 << int(0, 7);
      return { bytes, what: `${kind} with ${flips} bit flips` };
    }
    case 3: {
      // Flips only in the first 64 bytes: headers, sizes, chunk lengths.
      const flips = int(1, 6);
      for (let i = 0; i < flips; i++) {
        bytes[int(0, Math.min(63, bytes.length - 1))] ^= 1 << int(0, 7);
      }
      return { bytes, what: `${kind} with ${flips} header bit flips` };
    }
    case 4: {
      // Declared size: huge, zero or odd, in the format's own header fields.
      const [w, h] = pick([[0, 0], [0, 30], [65535, 65535], [1, 65535], [60000, 1], [1, 1]]);
      if (kind === "gif") {
        view.setUint16(6, w, true);
        view.setUint16(8, h, true);
      } else if (kind === "jpeg") {
        for (let i = 2; i + 9 < bytes.length; i++) {
          if (bytes[i] === 0xff && bytes[i + 1] === 0xc0) {
            view.setUint16(i + 5, h);
            view.setUint16(i + 7, w);
            break;
          }
        }
      } else {
        view.setUint32(16, w * (w > 60000 ? 1000 : 1));
        view.setUint32(20, h);
      }
      return { bytes, what: `${kind} declaring ${w}x${h}` };
    }
    case 5: {
      const length = int(0, 600);
      return {
        bytes: crypto.getRandomValues(new Uint8Array(length)),
        what: `${length} random bytes`,
      };
    }
    case 6: {
      // A real magic number followed by junk.
      const junk = new Uint8Array(int(8, 300));
      for (let i = 0; i < junk.length; i++) junk[i] = int(0, 255);
      junk.set(seed.subarray(0, int(3, 12)));
      return { bytes: junk, what: `${kind} magic then junk` };
    }
    default: {
      // GIF frames: bigger than, or outside, a tiny canvas.
      const gif = seeds.gif.slice();
      const g = new DataView(gif.buffer);
      for (let i = 13; i + 9 < gif.length; i++) {
        if (gif[i] === 0x2c && gif[i + 9] !== undefined) {
          g.setUint16(i + 5, pick([20000, 60000, 25, 300]), true);
          g.setUint16(i + 7, pick([20000, 1, 21, 300]), true);
          break;
        }
      }
      if (random() < 0.5) {
        g.setUint16(6, 1, true);
        g.setUint16(8, 1, true);
      }
      return { bytes: gif, what: "gif with a resized frame" };
    }
  }
}

const protoNames = ["constructor", "__proto__", "toString", "hasOwnProperty", "prototype"];

/** A value of a wrong type, or out of range, or odd. */
function oddValue(): unknown {
  return pick<unknown>([
    "5",
    "",
    null,
    true,
    [],
    {},
    [1, 2],
    [0],
    -1,
    0,
    1e9,
    2.5,
    -0.001,
    Number.MAX_SAFE_INTEGER,
    "constructor",
    JSON.parse('{"__proto__": 1}'), // an own key, as JSON.parse makes it
    { constructor: 1 },
  ]);
}

/** One option object (or not an object at all), with what was done to it. */
function fuzzOptions(): { json: string; what: string } {
  const base: Record<string, unknown> = {
    iterations: int(1, 2),
    maxSize: int(17, 48),
    previewEvery: 1,
    seed: 1,
    network: pick(["squeezenet", "googlenet"]),
  };
  const key = pick([
    "iterations",
    "maxSize",
    "network",
    "preset",
    "contentWeight",
    "styleWeight",
    "tvWeight",
    "strength",
    "styleWeights",
    "styleScale",
    "preserveColors",
    "init",
    "optimizer",
    "historySize",
    "learningRate",
    "pooling",
    "contentLayers",
    "styleLayers",
    "seed",
    "scales",
    "previewEvery",
  ]);
  switch (int(0, 7)) {
    case 0:
      return { json: JSON.stringify({ ...base, [key]: oddValue() }), what: `${key}: odd value` };
    case 1: {
      const name = pick([...protoNames, "bogus", "maxsize", "Iterations"]);
      return {
        json: JSON.stringify({ ...base, [name]: oddValue() }),
        what: `unknown key ${name}`,
      };
    }
    case 2:
      return {
        json: JSON.stringify({ ...base, preset: pick([...protoNames, "nope", ""]) }),
        what: "odd preset",
      };
    case 3: {
      const field = pick(["contentLayers", "styleLayers"]);
      const set = pick<Record<string, unknown>>([
        {},
        { conv1: 0 },
        JSON.parse(`{"${pick(protoNames)}": 1}`),
        { "fire9/concat": 0, conv1: 0 },
        { "no/such": 1 },
        { conv1: -1 },
        { conv1: "1" },
      ]);
      return {
        json: JSON.stringify({ ...base, [field]: set }),
        what: `${field} ${JSON.stringify(set)}`,
      };
    }
    case 4:
      return {
        json: JSON.stringify({ ...base, contentWeight: 0, styleWeight: pick([0, -1, "0"]) }),
        what: "no loss term",
      };
    case 5:
      return {
        json: pick(["[]", '"x"', "5", "null", "{", '{"iterations":', "{}}", "\u0000", "true"]),
        what: "not an object",
      };
    case 6: {
      const scales = pick([[], [8], [16, 4096], [17, 18, 19, 20, 21], "64", [17.5], [64, -1]]);
      return {
        json: JSON.stringify({ ...base, scales }),
        what: `scales ${JSON.stringify(scales)}`,
      };
    }
    default:
      // A valid, tiny job (or one the guards refuse for its size).
      return { json: JSON.stringify(base), what: "valid" };
  }
}

Deno.test("fuzz: mutated images and option objects never get a 5xx, and every 4xx names a field", async () => {
  const server = await testServer({ maxIterations: 50, maxBodyBytes: 2_000_000 });
  const statuses = new Map<number, number>();
  let accepted = 0;
  const validPng = seeds.png;
  /** Posts one job; checks the answer; cancels an accepted job at once. */
  const send = async (
    content: Uint8Array,
    options: string,
    what: string,
    { asStyle = false, style = "starry-night" } = {},
  ) => {
    const form = new FormData();
    const blob = (bytes: Uint8Array) => new Blob([bytes as Uint8Array<ArrayBuffer>]);
    form.append("content", blob(asStyle ? validPng : content), "layer");
    if (asStyle) form.append("styleImage", blob(content), "style");
    else form.append("style", style);
    form.append("options", options);
    const response = await fetch(`${server.url}/v1/jobs`, { method: "POST", body: form });
    const text = await response.text();
    const label = `${what} / options ${options.slice(0, 120)} -> ${response.status} ${text}`;
    statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    assert.ok(response.status < 500, label);
    if (response.status === 202) {
      // Accepted means it runs: a job that fails after a 202 is a check missed at submission.
      accepted += 1;
      const job = await settled(JSON.parse(text).id);
      assert.equal(job.status, "done", `${label}\n${JSON.stringify(job.error)}`);
      return;
    }
    assert.equal(response.headers.get("content-type"), "application/problem+json", label);
    const problem = JSON.parse(text);
    assert.equal(problem.status, response.status, label);
    assert.ok(Array.isArray(problem.errors) && problem.errors.length > 0, `no field: ${label}`);
    for (const error of problem.errors) {
      assert.ok(typeof error.field === "string" && error.field.length > 0, label);
      assert.ok(typeof error.message === "string" && error.message.length > 0, label);
    }
  };
  /** Polls the job until it is done, failed or cancelled (cancelling it after 60 s). */
  const settled = async (id: string) => {
    const deadline = Date.now() + 60_000;
    while (true) {
      const job = await (await fetch(`${server.url}/v1/jobs/${id}`)).json();
      if (["done", "failed", "cancelled"].includes(job.status)) return job;
      if (Date.now() > deadline) {
        await (await fetch(`${server.url}/v1/jobs/${id}`, { method: "DELETE" })).body?.cancel();
        return job;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const tinyOptions = JSON.stringify({ iterations: 1, maxSize: 24, previewEvery: 1, seed: 1 });
  try {
    for (let i = 0; i < IMAGE_CASES; i++) {
      const { bytes, what } = fuzzImage();
      await send(bytes, tinyOptions, `#${i} ${what}`, { asStyle: i % 4 === 3 });
    }
    for (let i = 0; i < OPTION_CASES; i++) {
      const { json, what } = fuzzOptions();
      const style = i % 12 === 5
        ? pick(["mona-lisa", "constructor", "__proto__", "../../etc/passwd", "", "STARRY-NIGHT"])
        : "starry-night";
      await send(validPng, json, `#${IMAGE_CASES + i} ${what} (style "${style}")`, { style });
    }
    const health = await fetch(`${server.url}/v1/health`);
    assert.equal(health.status, 200);
    const { queue } = await health.json();
    assert.deepEqual(queue, { running: 0, waiting: 0 });
  } finally {
    await server.shutdown();
  }
  console.log(
    `fuzz seed ${SEED}: ${IMAGE_CASES + OPTION_CASES} requests, ${accepted} accepted and run;`,
    Object.fromEntries([...statuses].sort()),
  );
  assert.ok(accepted > 0, "some requests were valid (the generator is not all noise)");
  assert.ok((statuses.get(422) ?? 0) > 50 && (statuses.get(400) ?? 0) > 20, "a mix of problems");
});
