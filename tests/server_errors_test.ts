/**
 * Every error status of the API, each provoked with a real bad input against a
 * real server (a fake runner in place of the engine); all answered as
 * application/problem+json naming what is wrong.
 */
import assert from "node:assert/strict";
import { networkReady } from "../src/net/load.ts";
import {
  catPng,
  encodePng,
  fakeRunner,
  gradientWithAlpha,
  jobForm,
  readSse,
  testServer,
  tiny,
} from "./_server.ts";

const layerPng = await encodePng(gradientWithAlpha(40, 30));

interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: { field: string; message: string }[];
}

async function problem(response: Response, status: number): Promise<Problem> {
  const text = await response.text();
  assert.equal(response.status, status, text);
  assert.equal(response.headers.get("content-type"), "application/problem+json");
  const body = JSON.parse(text);
  assert.equal(body.status, status);
  for (const key of ["type", "title", "detail"]) assert.equal(typeof body[key], "string", key);
  return body;
}

function contentForm(content: Uint8Array, options: Record<string, unknown> = tiny()): FormData {
  return jobForm(content, options);
}

/** A PNG that is only a signature and an IHDR chunk claiming `w` x `h`. */
function pngHeaderClaiming(w: number, h: number): Uint8Array {
  const bytes = new Uint8Array(33);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 73, 72, 68, 82]);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, w);
  view.setUint32(20, h);
  bytes.set([8, 6, 0, 0, 0], 24);
  return bytes;
}

Deno.test("bad inputs get the right problem status, naming the field, and the server keeps serving", async (t) => {
  const server = await testServer({
    run: fakeRunner(2, 1),
    maxIterations: 50,
    maxBodyBytes: 2_000_000,
  });
  const post = (body: BodyInit, headers: HeadersInit = {}) =>
    fetch(`${server.url}/v1/jobs`, { method: "POST", body, headers });
  try {
    await t.step("400: a truncated PNG", async () => {
      const cut = (await catPng()).slice(0, 2000);
      const body = await problem(await post(contentForm(cut)), 400);
      assert.equal(body.errors![0].field, "content");
      assert.match(body.detail, /PNG/);
    });
    await t.step("415: random bytes as the image", async () => {
      const random = crypto.getRandomValues(new Uint8Array(4096));
      const body = await problem(await post(contentForm(random)), 415);
      assert.equal(body.errors![0].field, "content");
      assert.match(body.detail, /PNG, JPEG, GIF or TIFF/);
    });
    await t.step("413: a PNG header claiming 100000x100000, refused before decoding", async () => {
      const body = await problem(await post(contentForm(pngHeaderClaiming(100000, 100000))), 413);
      assert.match(body.detail, /100000x100000/);
      assert.equal(body.errors![0].field, "content");
    });
    await t.step("413: a body over the byte limit", async () => {
      const big = new Uint8Array(3_000_000);
      await problem(await post(contentForm(big)), 413);
    });
    await t.step(
      "413: a chunked body (no Content-Length) over the limit; under it, it is read",
      async () => {
        const chunked = async (form: FormData) => {
          const request = new Request("http://x/", { method: "POST", body: form });
          const bytes = new Uint8Array(await request.arrayBuffer());
          const body = new ReadableStream<Uint8Array>({
            start(controller) {
              for (let i = 0; i < bytes.length; i += 65536) {
                controller.enqueue(bytes.slice(i, i + 65536));
              }
              controller.close();
            },
          });
          return await post(body, { "content-type": request.headers.get("content-type")! });
        };
        const big = await problem(await chunked(contentForm(new Uint8Array(3_000_000))), 413);
        assert.match(big.detail, /over 2000000 bytes/);
        const small = await chunked(jobForm(layerPng, tiny()));
        assert.equal(small.status, 202, await small.clone().text());
        await small.body?.cancel();
      },
    );
    await t.step("415: a JSON body instead of multipart", async () => {
      const body = await problem(
        await post(JSON.stringify({ content: "x" }), { "content-type": "application/json" }),
        415,
      );
      assert.match(body.detail, /multipart\/form-data/);
    });
    await t.step("400: options that are not JSON", async () => {
      const form = contentForm(layerPng);
      form.set("options", "{iterations: 3");
      const body = await problem(await post(form), 400);
      assert.equal(body.errors![0].field, "options");
    });
    await t.step("422: invalid option values name each field", async () => {
      const body = await problem(
        await post(contentForm(layerPng, { iterations: -1, network: "alexnet", bogus: 1 })),
        422,
      );
      const fields = body.errors!.map((e) => e.field).sort();
      assert.ok(fields.includes("options.iterations"), fields.join());
      assert.ok(fields.includes("options.network"), fields.join());
      const network = body.errors!.find((e) => e.field === "options.network")!;
      assert.match(network.message, /squeezenet/);
    });
    await t.step("422: more iterations than the schema or this server allows", async () => {
      const schema = await problem(
        await post(contentForm(layerPng, tiny({ iterations: 5000 }))),
        422,
      );
      assert.equal(schema.errors![0].field, "options.iterations");
      const server = await problem(
        await post(contentForm(layerPng, tiny({ iterations: 51 }))),
        422,
      );
      assert.match(server.detail, /at most 50|allows \(50\)/);
    });
    await t.step("422: no content, no style, unknown field", async () => {
      const noContent = new FormData();
      noContent.append("style", "starry-night");
      assert.equal((await problem(await post(noContent), 422)).errors![0].field, "content");
      const noStyle = jobForm(layerPng, tiny(), []);
      assert.equal((await problem(await post(noStyle), 422)).errors![0].field, "style");
      const typo = contentForm(layerPng);
      typo.append("styles", "great-wave");
      assert.equal((await problem(await post(typo), 422)).errors![0].field, "styles");
    });
    await t.step(
      "422 before queuing: what the engine's guards refuse, naming the field",
      async () => {
        const thin = await encodePng(gradientWithAlpha(1200, 24));
        const cases: [Uint8Array, Record<string, unknown>, string, RegExp][] = [
          [thin, tiny({ maxSize: 512 }), "options.maxSize", /512x10.*use 825 or more/],
          [layerPng, tiny({ maxSize: 16 }), "options.maxSize", /use 2[0-9] or more/],
          [await encodePng(gradientWithAlpha(1000, 1)), tiny(), "content", /too thin/],
          [layerPng, tiny({ contentLayers: {} }), "options.contentLayers", /no layer/],
          [layerPng, tiny({ contentWeight: 0, styleWeight: 0 }), "options.contentWeight", /off/],
          [layerPng, tiny({ styleLayers: { pool9: 1 } }), "options.styleLayers", /unknown layer/],
          [layerPng, tiny({ preset: "constructor" }), "options.preset", /unknown preset/],
          [layerPng, tiny({ scales: [32, 48, 64, 96, 128] }), "options.scales", /4/],
        ];
        for (const [content, options, field, message] of cases) {
          const body = await problem(await post(contentForm(content, options)), 422);
          const error = body.errors!.find((e) => e.field === field);
          assert.ok(error, `${JSON.stringify(options)}: ${JSON.stringify(body.errors)}`);
          assert.match(error.message, message);
        }
        const health = await (await fetch(`${server.url}/v1/health`)).json();
        assert.deepEqual(health.queue, { running: 0, waiting: 0 }, "nothing was queued");
      },
    );
    await t.step("404: unknown style, job, image and route", async () => {
      const style = await problem(await post(jobForm(layerPng, tiny(), ["mona-lisa"])), 404);
      assert.match(style.detail, /mona-lisa.*starry-night/);
      assert.equal(style.errors![0].field, "style[0]");
      await problem(await fetch(`${server.url}/v1/jobs/no-such-job`), 404);
      await problem(await fetch(`${server.url}/v1/jobs/no-such-job/events`), 404);
      await problem(await fetch(`${server.url}/v1/styles/mona-lisa/image`), 404);
      await problem(await fetch(`${server.url}/v2/jobs`), 404);
    });
    await t.step("503: a network whose weights are missing names the command", async () => {
      if (await networkReady("vgg16")) return; // only provable while VGG16 is not installed
      const body = await problem(
        await post(contentForm(layerPng, tiny({ network: "vgg16" }))),
        503,
      );
      assert.match(body.detail, /deno task weights vgg16/);
    });
    const health = await fetch(`${server.url}/v1/health`);
    assert.equal(health.status, 200);
    assert.deepEqual((await health.json()).queue, { running: 0, waiting: 0 });
  } finally {
    await server.shutdown();
  }
});

Deno.test("a full queue answers 429 with Retry-After, and accepts again once there is room", async () => {
  const server = await testServer({ run: fakeRunner(500, 20), maxWaiting: 1 });
  const post = () =>
    fetch(`${server.url}/v1/jobs`, {
      method: "POST",
      body: jobForm(layerPng, tiny({ iterations: 500 })),
    });
  try {
    const running = await (await post()).json();
    const waiting = await (await post()).json();
    assert.equal(waiting.position, 1);
    const full = await post();
    const body = await problem(full, 429);
    assert.match(body.detail, /queue is full/);
    assert.ok(Number(full.headers.get("retry-after")) >= 1);

    const cancelled = await (await fetch(server.url + waiting.links.self, { method: "DELETE" }))
      .json();
    assert.equal(cancelled.status, "cancelled");
    const again = await post();
    assert.equal(again.status, 202);
    const last = await again.json();
    await fetch(server.url + running.links.self, { method: "DELETE" });
    await fetch(server.url + last.links.self, { method: "DELETE" });
    const events = await readSse(await fetch(server.url + last.links.events));
    assert.equal(events.at(-1)!.event, "cancelled");
  } finally {
    await server.shutdown();
  }
});
