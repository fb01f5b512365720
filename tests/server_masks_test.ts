/**
 * The `mask` field of a job: where the styles paint. One mask for all the styles, or one per
 * style in the styles' order (the `style` ids, then the `styleImage` files); each checked like
 * every upload, named `mask[i]`; the count checked by the engine's own guard (422 naming
 * `masks`); the bytes carried by the job (and counted in its memory) to the engine process,
 * which decodes them and hands them to `stylize()`. A fake runner shows what a job carries; the
 * real engine shows the masks arrive in `stylize()` and that one it cannot decode fails the job.
 */
import assert from "node:assert/strict";
import type { RgbaImage } from "../src/image/image.ts";
import { stylizeOptionsSchema } from "../src/engine/options.ts";
import type { JobRunner, JobSpec } from "../src/server/jobs.ts";
import {
  catPng,
  encodePng,
  gradientWithAlpha,
  jobForm,
  readSse,
  testServer,
  tiny,
} from "./_server.ts";

const layerPng = await encodePng(gradientWithAlpha(40, 30));
const stylePng = await encodePng(gradientWithAlpha(32, 32));
const losses = { total: 1, content: 0.5, style: 0.5, tv: 0 };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `w`x`h` mask, white (styled) where `inside(x, y)`, black elsewhere; opaque. */
function maskImage(w: number, h: number, inside: (x: number, y: number) => boolean): RgbaImage {
  const data = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = inside(x, y) ? 255 : 0;
      data.set([v, v, v, 255], (y * w + x) * 4);
    }
  }
  return { width: w, height: h, data };
}

const leftMask = await encodePng(maskImage(20, 15, (x) => x < 10));
const rightMask = await encodePng(maskImage(80, 60, (x) => x >= 40));

const file = (bytes: Uint8Array) =>
  new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "image/png" });

/** A job form: the layer, a catalogue style, then any style files, then the masks. */
function maskForm(
  masks: (Uint8Array | string)[],
  styleFiles: Uint8Array[] = [],
  options = tiny(),
): FormData {
  const form = jobForm(layerPng, options);
  for (const style of styleFiles) form.append("styleImage", file(style), "style.png");
  for (const [i, mask] of masks.entries()) {
    if (typeof mask === "string") form.append("mask", mask);
    else form.append("mask", file(mask), `mask-${i}.png`);
  }
  return form;
}

/** A runner that records each spec and finishes at once. */
function recordingRunner() {
  const specs: JobSpec[] = [];
  const run: JobRunner = async function* (spec) {
    specs.push(spec);
    yield { iteration: 1, iterations: 1, losses, elapsedMs: 1 };
  };
  return { run, specs };
}

const post = (url: string, body: FormData, path = "/v1/jobs") =>
  fetch(`${url}${path}`, { method: "POST", body });

/** Asserts the job was taken, and reads the answer to its end (a /v1/stylize stream too:
 * hanging up on one would cancel its job). */
async function accepted(response: Response): Promise<void> {
  const text = await response.text();
  assert.ok(response.status === 202 || response.status === 200, text);
}

Deno.test("mask: one per style in the styles' order, or one for all, travels with the job", async () => {
  const { run, specs } = recordingRunner();
  const server = await testServer({ run });
  const next = async () => {
    while (specs.length === 0) await sleep(5);
    return specs.shift()!;
  };
  try {
    // Two styles (the catalogue id, then the uploaded file), two masks: paired in that order.
    await accepted(await post(server.url, maskForm([leftMask, rightMask], [stylePng])));
    const paired = await next();
    assert.equal(paired.styles.length, 2);
    assert.deepEqual(paired.styles[1], stylePng);
    assert.deepEqual(paired.masks, [leftMask, rightMask]);

    // One mask for both styles; the same through /v1/stylize.
    await accepted(await post(server.url, maskForm([leftMask], [stylePng])));
    assert.deepEqual((await next()).masks, [leftMask]);
    await accepted(await post(server.url, maskForm([rightMask]), "/v1/stylize"));
    assert.deepEqual((await next()).masks, [rightMask]);

    // No mask: the job has none, and every style covers the whole image.
    await accepted(await post(server.url, maskForm([])));
    assert.equal((await next()).masks, undefined);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a wrong number of masks is a 422 naming masks, a bad mask a 4xx naming it; nothing is queued", async () => {
  const { run, specs } = recordingRunner();
  const server = await testServer({ run });
  try {
    const cut = (await catPng()).slice(0, 2000);
    const random = crypto.getRandomValues(new Uint8Array(4096));
    const huge = new Uint8Array(33); // a PNG signature and an IHDR claiming 100000x100000
    huge.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);
    new DataView(huge.buffer).setUint32(16, 100000);
    new DataView(huge.buffer).setUint32(20, 100000);
    huge.set([8, 6, 0, 0, 0], 24);

    const cases: [FormData, number, string, RegExp][] = [
      [
        maskForm([leftMask, rightMask]),
        422,
        "masks",
        /one mask for all styles or one per .*\(1\), got 2/,
      ],
      [maskForm([leftMask, leftMask, rightMask], [stylePng]), 422, "masks", /\(2\), got 3/],
      [maskForm([leftMask, random], [stylePng]), 415, "mask[1]", /PNG, JPEG, GIF or TIFF/],
      [maskForm([cut]), 400, "mask[0]", /PNG/],
      [maskForm([huge]), 413, "mask[0]", /100000x100000/],
      [maskForm(["left half"]), 422, "mask[0]", /file upload/],
      [maskForm([new Uint8Array()]), 400, "mask[0]", /empty/],
    ];
    for (const [form, status, field, message] of cases) {
      const response = await post(server.url, form);
      const body = await response.json();
      assert.equal(response.status, status, JSON.stringify(body));
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      assert.equal(body.errors[0].field, field, JSON.stringify(body));
      assert.match(body.detail, message);
      assert.ok(body.detail.includes(field), `the detail names ${field}: ${body.detail}`);
    }
    await sleep(20);
    assert.equal(specs.length, 0, "nothing was queued");
  } finally {
    await server.shutdown();
  }
});

Deno.test("a waiting job's masks count in the bytes the queue holds", async () => {
  const gate = Promise.withResolvers<void>();
  const specs: JobSpec[] = [];
  const run: JobRunner = async function* (spec, signal) {
    specs.push(spec);
    await Promise.race([
      gate.promise,
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    ]);
    yield { iteration: 1, iterations: 1, losses, elapsedMs: 1 };
  };
  const server = await testServer({ run });
  try {
    const styleOnly = (masks: Uint8Array[]) => {
      const form = maskForm(masks, [stylePng]);
      form.delete("style"); // the uploaded style alone, whose bytes the test knows
      return form;
    };
    await accepted(await post(server.url, styleOnly([])));
    while (specs.length === 0) await sleep(5);
    await accepted(await post(server.url, styleOnly([leftMask])));
    assert.equal(
      server.queue.bytes.waiting,
      layerPng.length + stylePng.length + leftMask.length,
    );
    const health = await (await fetch(`${server.url}/v1/health`)).json();
    assert.equal(health.memory.waitingBytes, server.queue.bytes.waiting);
  } finally {
    gate.resolve();
    await server.shutdown();
  }
});

Deno.test("masks reach stylize() in the engine process; one it cannot decode fails the job naming it", async () => {
  const server = await testServer();
  try {
    // Through the API: a job with a mask runs on the real engine to the end.
    const created = await post(server.url, maskForm([leftMask]));
    assert.equal(created.status, 202, await created.clone().text());
    const events = await readSse(await fetch(server.url + (await created.json()).links.events));
    assert.equal(events.at(-1)!.event, "done", JSON.stringify(events.at(-1)));

    // Straight to the engine process, past the HTTP edge's checks: what the engine does with
    // the masks it is sent shows they arrive.
    const engine = server.engine!;
    const options = stylizeOptionsSchema.parse(tiny());
    const content = layerPng;
    const failure = async (spec: Omit<JobSpec, "content" | "options">) => {
      try {
        for await (
          const _ of engine.run({ content, options, ...spec }, new AbortController().signal)
        ) {
          // steps until it fails
        }
      } catch (error) {
        return error as { status: number; body: { errors?: { field: string }[]; detail: string } };
      }
      assert.fail("the job did not fail");
    };
    // Two masks for one style: stylize()'s own guard refuses them, naming masks.
    const counted = await failure({ styles: [stylePng], masks: [leftMask, rightMask] });
    assert.equal(counted.status, 422);
    assert.equal(counted.body.errors![0].field, "masks");
    assert.match(counted.body.detail, /got 2/);
    // A mask that is not an image: the job fails with a problem naming it, as a style's would.
    const broken = await failure({ styles: [stylePng], masks: [leftMask.slice(0, 40)] });
    assert.equal(broken.status, 400);
    assert.equal(broken.body.errors![0].field, "mask[0]");
    assert.match(broken.body.detail, /^mask\[0\]: /);
    // The engine is unharmed: the next job runs.
    for await (
      const _ of engine.run(
        { content, options, styles: [stylePng], masks: [rightMask] },
        new AbortController().signal,
      )
    ) {
      // to the end
    }
  } finally {
    await server.shutdown();
  }
});
