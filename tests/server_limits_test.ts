/**
 * The queue's limits in bytes and time, with an injected runner (no engine process): the
 * per-job time limit, the sizes the server serves (422 naming the field, stated in
 * /v1/health), queue checks before any decoding, waiting jobs holding only their uploaded
 * bytes, the cap on concurrent uploads, and the preview byte budgets.
 */
import assert from "node:assert/strict";
import { ZodError } from "zod";
import { DEFAULT_OPTIONS } from "../src/engine/options.ts";
import { JobQueue, type JobRunner } from "../src/server/jobs.ts";
import {
  catPng,
  encodePng,
  fakeRunner,
  gradientWithAlpha,
  jobForm,
  readSse,
  testServer,
} from "./_server.ts";

const layerPng = await encodePng(gradientWithAlpha(40, 30));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const losses = { total: 1, content: 0.5, style: 0.5, tv: 0 };

/** A runner that holds each job until `release()`, recording what it was given. */
function gatedRunner() {
  const gate = Promise.withResolvers<void>();
  const specs: Parameters<JobRunner>[0][] = [];
  const run: JobRunner = async function* (spec, signal) {
    specs.push(spec);
    await Promise.race([
      gate.promise,
      new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
    ]);
    yield { iteration: 1, iterations: 1, losses, elapsedMs: 1, png: layerPng };
  };
  return { run, specs, release: () => gate.resolve() };
}

const post = (url: string, body: FormData, path = "/v1/jobs") =>
  fetch(url + path, { method: "POST", body });

Deno.test("a job over the time limit fails with a problem saying so and what to try", async () => {
  const server = await testServer({ run: fakeRunner(100, 50), jobTimeLimitMs: 400 });
  try {
    const created = await (await post(server.url, jobForm(layerPng, {}))).json();
    const events = await readSse(await fetch(server.url + created.links.events));
    const end = events.at(-1)!;
    assert.equal(end.event, "error");
    assert.equal(end.data.type, "/problems/job-time-limit");
    assert.match(end.data.detail as string, /limit of 0 s.*fewer iterations or a smaller maxSize/);
    assert.ok((end.data.status as number) >= 500);
    const job = await (await fetch(server.url + created.links.self)).json();
    assert.equal(job.status, "failed");
    assert.ok(job.iteration < 20, `stopped at ${job.iteration}`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("maxSize and scales beyond what the server serves get 422 naming the field and the limit", async () => {
  const server = await testServer({ run: fakeRunner(1, 1), maxSize: 256, maxScales: 2 });
  try {
    const health = await (await fetch(`${server.url}/v1/health`)).json();
    assert.equal(health.status, "ok");
    assert.equal(health.limits.maxSize, 256);
    assert.equal(health.limits.maxScales, 2);
    assert.ok(health.limits.jobTimeLimitMs > 0);
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ maxSize: 512 }, "options.maxSize", /512 .*at most 256/],
      [{ scales: [128, 300] }, "options.scales.1", /300 .*at most 256/],
      [{ scales: [64, 128, 256] }, "options.scales", /at most 2 sizes/],
    ];
    for (const [options, field, detail] of cases) {
      const response = await post(server.url, jobForm(layerPng, options));
      assert.equal(response.status, 422);
      assert.equal(response.headers.get("content-type"), "application/problem+json");
      const body = await response.json();
      assert.equal(body.errors[0].field, field);
      assert.match(body.detail, detail);
    }
    assert.equal((await post(server.url, jobForm(layerPng, { maxSize: 256 }))).status, 202);
  } finally {
    await server.shutdown();
  }
});

Deno.test("refusals quote the limits this server applies, the ones /v1/health states", async () => {
  const server = await testServer({
    run: fakeRunner(1, 1),
    maxSize: 256,
    maxScales: 2,
    maxIterations: 50,
  });
  try {
    const { limits } = await (await fetch(`${server.url}/v1/health`)).json();
    assert.deepEqual([limits.maxSize, limits.maxScales, limits.maxIterations], [256, 2, 50]);
    const png = (w: number, h: number) => encodePng(gradientWithAlpha(w, h));
    const small = { iterations: 5, maxSize: 128 };
    const cases: [Uint8Array, Record<string, unknown>, string, RegExp][] = [
      // No size makes it workable: the limit quoted is this server's, not the schema's 2048.
      [await png(4000, 1), small, "content", /even at the largest size allowed \(256\)/],
      // 425 px would do, but this server serves at most 256: the image is what to change.
      [await png(400, 16), small, "content", /largest size allowed \(256\) it is too thin/],
      [await png(400, 16), { iterations: 5, scales: [64, 128] }, "content", /allowed \(256\)/],
      // Beyond the schema's own bounds too, the server's limit is the one quoted.
      [layerPng, { maxSize: 3000 }, "options.maxSize", /^3000 is .* serve \(at most 256\)$/],
      [layerPng, { scales: [128, 4000] }, "options.scales.1", /^4000 is .* \(at most 256\)$/],
      [layerPng, { scales: [64, 96, 128, 160, 192] }, "options.scales", /^at most 2 sizes/],
      [layerPng, { iterations: 5000 }, "options.iterations", /^5000 is .* \(at most 50\)$/],
    ];
    for (const [content, options, field, message] of cases) {
      const response = await post(server.url, jobForm(content, options));
      const body = await response.json();
      const what = `${JSON.stringify(options)}: ${body.detail}`;
      assert.equal(response.status, 422, what);
      assert.equal(body.errors[0].field, field, what);
      assert.match(body.errors[0].message, message, what);
      assert.doesNotMatch(body.detail, /2048|2000|<=4/, what);
    }
    // A thin image that a size this server serves can work on is told that size.
    const fits = await post(server.url, jobForm(await png(400, 40), { ...small, maxSize: 64 }));
    const body = await fits.json();
    assert.equal(fits.status, 422);
    assert.equal(body.errors[0].field, "options.maxSize");
    assert.match(
      body.errors[0].message,
      /fire7\/concat needs a side of at least 17 px: use 165 or more$/,
    );
  } finally {
    await server.shutdown();
  }
  // Limits set above the schema's are stated as the schema's: those are what apply.
  const wide = await testServer({ run: fakeRunner(1, 1), maxSize: 8192, maxIterations: 9999 });
  try {
    const { limits } = await (await fetch(`${wide.url}/v1/health`)).json();
    assert.deepEqual([limits.maxSize, limits.maxIterations], [2048, 2000]);
  } finally {
    await wide.shutdown();
  }
});

Deno.test("a full queue refuses before decoding, and waiting jobs hold only their uploaded bytes", async () => {
  const gated = gatedRunner();
  const server = await testServer({ run: gated.run, maxWaiting: 1 });
  try {
    const running = await post(server.url, jobForm(layerPng, {}));
    assert.equal(running.status, 202);
    await running.body?.cancel();
    while (gated.specs.length === 0) await sleep(5);
    const waiting = await post(server.url, jobForm(layerPng, {}));
    assert.equal(waiting.status, 202);
    await waiting.body?.cancel();

    const style = await Deno.readFile(`${server.dir}/catalogue/starry-night.jpg`).catch(() => null);
    const held = server.queue.bytes.waiting;
    assert.ok(held >= layerPng.length, `waiting bytes ${held}`);
    if (style) assert.equal(held, layerPng.length + style.length);
    // What the runner got: the uploaded file itself, not decoded pixels.
    assert.ok(gated.specs[0].content instanceof Uint8Array);
    assert.deepEqual(gated.specs[0].content, layerPng);

    // A truncated PNG would be a 400 once decoded: the full queue answers first.
    const cut = (await catPng()).slice(0, 2000);
    const refused = await post(server.url, jobForm(cut, {}));
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get("retry-after")) >= 1);
    assert.equal((await refused.json()).type, "/problems/queue-full");
  } finally {
    gated.release();
    await server.shutdown();
  }
});

Deno.test("concurrent uploads are capped: one more while the body is still arriving gets 429", async () => {
  const server = await testServer({ run: fakeRunner(1, 1), maxUploads: 1 });
  try {
    // A multipart upload whose body stalls half-way, holding the one upload slot.
    const boundary = "restyle-test";
    const part =
      `--${boundary}\r\nContent-Disposition: form-data; name="style"\r\n\r\nstarry-night\r\n`;
    const end = `--${boundary}--\r\n`;
    const port = Number(new URL(server.url).port);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const write = (text: string) => conn.write(new TextEncoder().encode(text));
    await write(
      [
        "POST /v1/jobs HTTP/1.1",
        `Host: 127.0.0.1:${port}`,
        `Content-Type: multipart/form-data; boundary=${boundary}`,
        `Content-Length: ${part.length + end.length}`,
        "Connection: close",
        "",
        part,
      ].join("\r\n"),
    );
    await sleep(300);
    const second = await post(server.url, jobForm(layerPng, {}));
    assert.equal(second.status, 429);
    assert.equal((await second.json()).type, "/problems/too-many-uploads");
    await write(end);
    let answer = "";
    for await (const chunk of conn.readable) answer += new TextDecoder().decode(chunk);
    assert.match(answer, /^HTTP\/1.1 422/); // no content field: the slot is freed on errors too
    const third = await post(server.url, jobForm(layerPng, {}));
    assert.equal(third.status, 202);
    await third.body?.cancel();
  } finally {
    await server.shutdown();
  }
});

Deno.test("previews stay within the per-job and overall byte budgets, oldest dropped first", async () => {
  const queue = new JobQueue({
    run: fakeRunner(10, 0, 300),
    maxImageBytesPerJob: 1000,
    maxImageBytes: 1200,
  });
  try {
    const spec = { content: layerPng, styles: [layerPng], options: DEFAULT_OPTIONS };
    const first = queue.submit(spec);
    await first.settled;
    // 300-byte previews, 1000 bytes per job: the newest three.
    assert.deepEqual([...first.images.keys()], [8, 9, 10]);
    assert.equal(queue.bytes.images, 900);

    const second = queue.submit(spec);
    await second.settled;
    // Overall 1200 bytes: the first job's older previews went first; every job keeps its latest.
    assert.equal(queue.bytes.images, 1200);
    assert.deepEqual([...first.images.keys()], [10]);
    assert.deepEqual([...second.images.keys()], [8, 9, 10]);

    queue.prune(Date.now() + queue.options.keepMs + 1);
    assert.equal(queue.bytes.images, 0);
  } finally {
    await queue.close();
  }
});

Deno.test("/v1/stylize with Accept: image/png cuts the body short when the job fails, and names the job", async () => {
  const failing: JobRunner = async function* () {
    yield { iteration: 1, iterations: 2, losses, elapsedMs: 1 };
    // A reason the engine reports (a guard's ZodError names its field); other errors are hidden.
    throw new ZodError([
      {
        code: "custom",
        path: ["options", "styleLayers"],
        message: "no layer left",
        input: undefined,
      },
    ]);
  };
  const server = await testServer({ run: failing });
  try {
    const response = await fetch(`${server.url}/v1/stylize`, {
      method: "POST",
      headers: { accept: "image/png" },
      body: jobForm(layerPng, {}),
    });
    assert.equal(response.status, 200);
    const link = response.headers.get("link")!;
    await assert.rejects(response.arrayBuffer());
    const job = await (await fetch(server.url + link.slice(1, link.indexOf(">")))).json();
    assert.equal(job.status, "failed");
    assert.match(job.error.detail, /no layer left/);
  } finally {
    await server.shutdown();
  }
});
