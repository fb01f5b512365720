/**
 * The job API against a real server and the real engine (SqueezeNet, tiny sizes) in its
 * process: ordered events, previews at the layer's size with its alpha, resume, NDJSON,
 * cancellation and the engine's tensor accounting.
 */
import assert from "node:assert/strict";
import {
  encodePng,
  gradientWithAlpha,
  jobForm,
  pngOf,
  readSse,
  testServer,
  tiny,
} from "./_server.ts";

const layer = gradientWithAlpha(60, 40);
const layerPng = await encodePng(layer);

function alphaChannel(data: Uint8Array): number[] {
  return Array.from(data.filter((_, i) => i % 4 === 3));
}

async function submit(url: string, options: Record<string, unknown>, body = layerPng) {
  const response = await fetch(`${url}/v1/jobs`, {
    method: "POST",
    body: jobForm(body, options),
  });
  assert.equal(response.status, 202, await response.clone().text());
  return await response.json();
}

Deno.test("a job streams ordered events and serves every preview at the layer's size with its alpha", async () => {
  const server = await testServer();
  try {
    const created = await submit(server.url, tiny({ iterations: 4, previewEvery: 2 }));
    assert.equal(created.status, "queued");
    assert.deepEqual(Object.keys(created.links).sort(), ["events", "latest", "self"]);
    const events = await readSse(await fetch(server.url + created.links.events));

    assert.deepEqual(events.map((e) => e.id), events.map((_, i) => i + 1));
    assert.deepEqual(events.map((e) => e.event), [
      "status",
      "status",
      "progress",
      "iteration",
      "progress",
      "iteration",
      "done",
    ]);
    assert.deepEqual(events.slice(0, 2).map((e) => e.data.status), ["queued", "running"]);
    const steps = events.filter((e) => e.event === "progress" || e.event === "iteration");
    assert.deepEqual(steps.map((e) => e.data.iteration), [1, 2, 3, 4]);
    for (const step of steps) {
      const losses = step.data.losses as Record<string, number>;
      assert.ok(Number.isFinite(losses.total) && losses.total > 0, JSON.stringify(losses));
    }

    for (const event of events.filter((e) => e.event === "iteration")) {
      const response = await fetch(server.url + event.data.url);
      assert.equal(response.headers.get("content-type"), "image/png");
      const preview = await pngOf(response);
      assert.equal(preview.width, 60);
      assert.equal(preview.height, 40);
      assert.deepEqual(alphaChannel(preview.data), alphaChannel(layer.data));
    }
    const latest = await pngOf(await fetch(server.url + created.links.latest));
    assert.equal(latest.width, 60);

    const job = await (await fetch(server.url + created.links.self)).json();
    assert.equal(job.status, "done");
    assert.equal(job.iteration, 4);
    assert.deepEqual(job.images.map((i: { iteration: number }) => i.iteration), [2, 4]);
    assert.equal(events.at(-1)!.data.url, job.images[1].url);
  } finally {
    await server.shutdown();
  }
});

Deno.test("a layer larger than maxSize comes back optimised at its own size; tiled iterations report their tiles", async () => {
  const server = await testServer();
  try {
    const big = await encodePng(gradientWithAlpha(400, 300));
    const created = await submit(
      server.url,
      tiny({
        maxSize: 32,
        scales: [32],
        iterations: 1,
        maxDetailSize: 16384,
        detailIterations: 1,
        // Shallow layers and a small budget: the 400 px stage does not fit whole.
        contentLayers: { "fire2/concat": 1 },
        styleLayers: { conv1: 1, "fire2/concat": 1 },
        memoryBudget: 40,
      }),
      big,
    );
    const events = await readSse(await fetch(server.url + created.links.events));
    assert.equal(events.at(-1)!.event, "done", JSON.stringify(events.at(-1)));
    const steps = events.filter((e) => e.event === "iteration");
    // 32 px, then detail stages at 64, 128, 256 and the layer's 400 px.
    assert.deepEqual(steps.map((e) => e.data.iteration), [1, 2, 3, 4, 5]);
    const tiles = events.filter((e) => e.event === "tile");
    assert.ok(tiles.length >= 4, `${tiles.length} tile events`);
    const last = tiles.at(-1)!.data;
    assert.equal(last.iteration, 5);
    assert.equal(last.tile, last.tiles);
    assert.ok(events.indexOf(tiles[0]) < events.indexOf(steps[4]), "tiles come before their step");
    const final = await pngOf(await fetch(server.url + steps[4].data.url));
    assert.deepEqual([final.width, final.height], [400, 300]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("Last-Event-ID resumes the event stream with exactly the missed events", async () => {
  const server = await testServer();
  try {
    const created = await submit(server.url, tiny({ iterations: 3 }));
    const all = await readSse(await fetch(server.url + created.links.events));
    const resumed = await readSse(
      await fetch(server.url + created.links.events, { headers: { "Last-Event-ID": "3" } }),
    );
    assert.deepEqual(resumed, all.slice(3));
    assert.equal(resumed.at(-1)!.event, "done");

    // Reconnecting mid-run: read two events, drop the stream, resume from the last id seen.
    const second = await submit(server.url, tiny({ iterations: 6 }));
    const head = await readSse(await fetch(server.url + second.links.events), (e) => e.id === 2);
    const tail = await readSse(
      await fetch(server.url + second.links.events, { headers: { "Last-Event-ID": "2" } }),
    );
    const ids = [...head, ...tail].map((e) => e.id);
    assert.deepEqual(ids, ids.map((_, i) => i + 1));
    assert.equal(tail.at(-1)!.event, "done");
  } finally {
    await server.shutdown();
  }
});

Deno.test("POST /v1/stylize streams NDJSON previews with base64 PNGs and ends with done", async () => {
  const server = await testServer();
  try {
    const response = await fetch(`${server.url}/v1/stylize`, {
      method: "POST",
      body: jobForm(layerPng, tiny({ iterations: 2 })),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "application/x-ndjson");
    const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.iteration), [1, 2, 2]);
    assert.equal(lines.at(-1).done, true);
    for (const line of lines.slice(0, -1)) {
      assert.ok(line.losses.total > 0);
      const png = Uint8Array.from(atob(line.png), (ch) => ch.charCodeAt(0));
      const image = await pngOf(new Response(png));
      assert.deepEqual([image.width, image.height], [60, 40]);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("POST /v1/stylize with Accept: image/png answers the final PNG", async () => {
  const server = await testServer();
  try {
    const response = await fetch(`${server.url}/v1/stylize`, {
      method: "POST",
      headers: { accept: "image/png" },
      body: jobForm(layerPng, tiny({ iterations: 2, previewEvery: 5 })),
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get("content-type"), "image/png");
    const id = response.headers.get("x-job-id");
    assert.equal(response.headers.get("link"), `</v1/jobs/${id}>; rel="monitor"`);
    const image = await pngOf(response);
    assert.deepEqual([image.width, image.height], [60, 40]);
    assert.deepEqual(alphaChannel(image.data), alphaChannel(layer.data));
  } finally {
    await server.shutdown();
  }
});

Deno.test("GET /v1/jobs lists the jobs this server holds, newest first; their links cancel them", async () => {
  const server = await testServer();
  try {
    const list = async () => (await (await fetch(`${server.url}/v1/jobs`)).json()).jobs;
    assert.deepEqual(await list(), []);
    const done = await submit(server.url, tiny());
    await readSse(await fetch(server.url + done.links.events));
    const running = await submit(server.url, tiny({ iterations: 500, previewEvery: 100 }));
    const queued = await submit(server.url, tiny());
    await readSse(await fetch(server.url + running.links.events), (e) => e.event === "progress");

    const jobs = await list();
    assert.deepEqual(jobs.map((j: { id: string }) => j.id), [queued.id, running.id, done.id]);
    assert.deepEqual(jobs.map((j: { status: string }) => j.status), ["queued", "running", "done"]);
    const [waiting, busy, finished] = jobs;
    assert.deepEqual(waiting.links, queued.links);
    assert.deepEqual(busy.links, running.links);
    assert.equal(waiting.progress, 0);
    assert.equal(waiting.position, 1);
    assert.ok(busy.progress > 0 && busy.progress < 1, `running at ${busy.progress}`);
    assert.equal(busy.progress, busy.iteration / busy.iterations);
    assert.equal(finished.progress, 1);
    assert.equal(finished.iteration, 2);
    assert.ok(Date.parse(finished.finishedAt) >= Date.parse(finished.createdAt));
    assert.equal(busy.finishedAt, null);
    const created = jobs.map((j: { createdAt: string }) => Date.parse(j.createdAt));
    assert.deepEqual(created, [...created].sort((a, b) => b - a), "newest first");

    // The listed link is what cancels a job.
    const cancelled = await fetch(server.url + busy.links.self, { method: "DELETE" });
    assert.equal((await cancelled.json()).status, "cancelled");
    await readSse(await fetch(server.url + queued.links.events));
    const after = await list();
    assert.deepEqual(after.map((j: { status: string }) => j.status), ["done", "cancelled", "done"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("DELETE stops a running job within an iteration and frees its tensors", async () => {
  const server = await testServer();
  try {
    const warm = await submit(server.url, tiny({ iterations: 1 }));
    await readSse(await fetch(server.url + warm.links.events));
    const baseline = (await server.engine!.stats()).numTensors;
    const pid = server.engine!.pid;

    const created = await submit(server.url, tiny({ iterations: 500, maxSize: 64 }));
    const seen = await readSse(
      await fetch(server.url + created.links.events),
      (e) => e.event === "iteration" && e.data.iteration === 2,
    );
    assert.equal(seen.at(-1)!.data.iteration, 2);
    const deleted = await fetch(server.url + created.links.self, { method: "DELETE" });
    assert.equal(deleted.status, 200);
    const job = await deleted.json();
    assert.equal(job.status, "cancelled");
    assert.ok(job.iteration < 10, `stopped at iteration ${job.iteration}`);
    assert.equal(server.engine!.pid, pid, "the job stopped by itself: its process was not killed");
    // The job reads as cancelled as soon as the abort lands; the engine may still be
    // unwinding the step it was in. It frees everything within moments.
    let tensors = (await server.engine!.stats()).numTensors;
    for (let wait = 0; tensors !== baseline && wait < 50; wait++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      tensors = (await server.engine!.stats()).numTensors;
    }
    assert.equal(tensors, baseline);

    const events = await readSse(await fetch(server.url + created.links.events));
    assert.equal(events.at(-1)!.event, "cancelled");
  } finally {
    await server.shutdown();
  }
});

Deno.test("a client that drops its /v1/stylize stream cancels the job", async () => {
  const server = await testServer();
  try {
    const abort = new AbortController();
    const response = await fetch(`${server.url}/v1/stylize`, {
      method: "POST",
      body: jobForm(layerPng, tiny({ iterations: 500, maxSize: 64 })),
      signal: abort.signal,
    });
    const id = response.headers.get("x-job-id")!;
    const reader = response.body!.getReader();
    await reader.read(); // the first preview line
    abort.abort();
    await reader.cancel().catch(() => {});

    let status = "running";
    for (let i = 0; i < 100 && status === "running"; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await (await fetch(`${server.url}/v1/jobs/${id}`)).json()).status;
    }
    assert.equal(status, "cancelled");
    assert.deepEqual(server.queue.counts, { running: 0, waiting: 0 });
  } finally {
    await server.shutdown();
  }
});

Deno.test("the server also serves on a Unix socket with mode 0600", async () => {
  const dir = await Deno.makeTempDir();
  const socket = `${dir}/restyle.sock`;
  const server = await testServer({ socket });
  try {
    assert.equal(server.url, `unix:${socket}`);
    assert.equal((await Deno.stat(socket)).mode! & 0o777, 0o600);
    const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    const response = await fetch("http://localhost/v1/health", { client });
    assert.equal(response.status, 200);
    const health = await response.json();
    assert.equal(health.networks.find((n: { id: string }) => n.id === "squeezenet").ready, true);
    client.close();
  } finally {
    await server.shutdown();
  }
});

Deno.test("/v1/health says starting until the engine process is ready, then its backend", async () => {
  const server = await testServer();
  try {
    const first = await (await fetch(`${server.url}/v1/health`)).json();
    assert.equal(first.status, "starting");
    assert.equal(first.backend, null);
    assert.equal(first.engine.state, "starting");
    await server.engine!.ready();
    const health = await (await fetch(`${server.url}/v1/health`)).json();
    assert.equal(health.status, "ok");
    assert.equal(health.engine.state, "ready");
    const { backend } = server.engine!.status();
    assert.ok(["wasm", "webgpu", "onnx", "cpu"].includes(health.backend), health.backend);
    assert.deepEqual([health.backend, health.adapter], [backend!.backend, backend!.adapter]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("finished jobs are kept up to keepFinished and keepMs, then freed with their images", async () => {
  const server = await testServer({ keepFinished: 2, keepMs: 60_000 });
  try {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const created = await submit(server.url, tiny());
      await readSse(await fetch(server.url + created.links.events));
      ids.push(created.id);
    }
    const statuses = async () =>
      await Promise.all(ids.map(async (id) => {
        const response = await fetch(`${server.url}/v1/jobs/${id}/images/latest`);
        await response.body?.cancel();
        return response.status;
      }));
    server.queue.prune();
    assert.deepEqual(await statuses(), [404, 200, 200]);
    server.queue.prune(Date.now() + 60_001);
    assert.deepEqual(await statuses(), [404, 404, 404]);
  } finally {
    await server.shutdown();
  }
});
