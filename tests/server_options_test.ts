/**
 * A job's options are parsed once, at the HTTP edge: the runner gets them with the
 * schema's defaults, and what the engine would refuse about the form's images
 * (styleWeights per style, an init image) is a 422 before anything is queued.
 * The runner is a fake: the engine is not the point.
 */
import assert from "node:assert/strict";
import { DEFAULT_OPTIONS } from "../src/engine/options.ts";
import type { JobRunner, JobSpec } from "../src/server/jobs.ts";
import { encodePng, gradientWithAlpha, jobForm, testServer } from "./_server.ts";

const layerPng = await encodePng(gradientWithAlpha(40, 30));
const losses = { total: 1, content: 0.5, style: 0.5, tv: 0 };

/** A runner that records each spec and finishes at once. */
function recordingRunner() {
  const specs: JobSpec[] = [];
  const run: JobRunner = async function* (spec) {
    specs.push(spec);
    const { iterations } = spec.options;
    yield { iteration: iterations, iterations, losses, elapsedMs: 1 };
  };
  return { run, specs };
}

const post = (url: string, body: FormData) => fetch(`${url}/v1/jobs`, { method: "POST", body });

Deno.test("the runner gets the options parsed once, the schema's defaults filled in", async () => {
  const { run, specs } = recordingRunner();
  const server = await testServer({ run });
  try {
    const created = await post(server.url, jobForm(layerPng, { iterations: 7, maxSize: 64 }));
    assert.equal(created.status, 202, await created.clone().text());
    const job = await created.json();
    assert.equal(job.status, "queued");
    const state = await (await fetch(`${server.url}${job.links.self}`)).json();
    assert.equal(state.iterations, 7);
    while (specs.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(specs[0].options, { ...DEFAULT_OPTIONS, iterations: 7, maxSize: 64 });
  } finally {
    await server.shutdown();
  }
});

Deno.test("maxOutput, the old name of maxDetailSize, still works, with a note in the log", async () => {
  const { run, specs } = recordingRunner();
  const server = await testServer({ run });
  const warn = console.warn;
  const notes: string[] = [];
  console.warn = (...args: unknown[]) => notes.push(args.join(" "));
  try {
    for (const iterations of [3, 4]) {
      const options = { iterations, maxSize: 64, maxOutput: 64 };
      const created = await post(server.url, jobForm(layerPng, options));
      assert.equal(created.status, 202, await created.clone().text());
      await created.body?.cancel();
    }
    while (specs.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    const expected = { ...DEFAULT_OPTIONS, iterations: 3, maxSize: 64, maxDetailSize: 64 };
    assert.deepEqual(specs[0].options, expected);
    assert.equal(notes.length, 1, "once, not per job");
    assert.match(notes[0], /options\.maxOutput, the deprecated old name of options\.maxDetailSize/);
  } finally {
    console.warn = warn;
    await server.shutdown();
  }
});

Deno.test("styleWeights and init that do not fit the form's images get 422 naming the field", async () => {
  const { run, specs } = recordingRunner();
  const server = await testServer({ run });
  try {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ styleWeights: [1, 2] }, "options.styleWeights", /one weight per style image \(1\), got 2/],
      [{ styleWeights: [0] }, "options.styleWeights", /at least one weight must be greater than 0/],
      [{ init: "image" }, "initImage", /no initImage was given/],
    ];
    for (const [options, field, message] of cases) {
      const response = await post(server.url, jobForm(layerPng, { maxSize: 64, ...options }));
      const body = await response.json();
      assert.equal(response.status, 422, JSON.stringify(options));
      assert.equal(body.errors[0].field, field);
      assert.match(body.detail, message);
    }
    assert.equal(specs.length, 0, "nothing was queued");
  } finally {
    await server.shutdown();
  }
});

Deno.test("a default the server's limits do not allow is refused, saying it is the default", async () => {
  const { run, specs } = recordingRunner();
  const server = await testServer({ run, maxIterations: 50, maxSize: 256 });
  try {
    const iterations = await post(server.url, jobForm(layerPng, { maxSize: 64 }));
    assert.equal(iterations.status, 422);
    assert.match(
      (await iterations.json()).detail,
      /the default, 100, is more than .* \(at most 50\)/,
    );
    const size = await post(server.url, jobForm(layerPng, { iterations: 5 }));
    assert.equal(size.status, 422);
    assert.equal((await size.json()).errors[0].field, "options.maxSize");
    const scales = await post(server.url, jobForm(layerPng, { iterations: 5, scales: [128, 256] }));
    assert.equal(scales.status, 202, "scales replace maxSize, so its default is not used");
    await scales.body?.cancel();
    while (specs.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  } finally {
    await server.shutdown();
  }
});
