/**
 * The three example clients (curl, Python stdlib, Deno) each stylize a real
 * image against a real server and save a PNG at the image's size; the Python and
 * Deno clients list the server's jobs and cancel one.
 */
import assert from "node:assert/strict";
import { decodeImage, encodePng, gradientWithAlpha, jobForm, testServer } from "./_server.ts";

const OPTIONS = JSON.stringify({
  iterations: 4,
  previewEvery: 2,
  maxSize: 48,
  maxDetailSize: 48,
  seed: 3,
});

async function run(command: string, args: string[], url: string, expectCode = 0) {
  const output = await new Deno.Command(command, {
    args,
    env: { RESTYLE_URL: url, RESTYLE_OPTIONS: OPTIONS },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, expectCode, text);
  return text;
}

/** A job that runs long enough to be listed and cancelled, once it is running. */
async function runningJob(url: string, content: Uint8Array): Promise<string> {
  const options = { iterations: 1000, previewEvery: 500, maxSize: 48, maxDetailSize: 48 };
  const created = await (await fetch(`${url}/v1/jobs`, {
    method: "POST",
    body: jobForm(content, options),
  })).json();
  for (let i = 0; i < 600; i++) {
    const job = await (await fetch(`${url}${created.links.self}`)).json();
    if (job.status === "running" && job.iteration > 0) return created.id;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`job ${created.id} did not start`);
}

/** `client` (its command line before the arguments) lists a running job, then cancels it. */
async function listAndCancel(url: string, content: Uint8Array, client: string[]) {
  const [command, ...args] = client;
  const id = await runningJob(url, content);
  const listed = await run(command, [...args, "--list"], url);
  const line = listed.split("\n")[0];
  assert.match(line, new RegExp(`^${id}  running +\\d+%  \\d+/1000  queued `), listed);
  assert.match(
    listed,
    / {2}done +100% {2}4\/4 {2}queued /,
    "the finished jobs follow, newest first",
  );
  assert.match(await run(command, [...args, "--cancel", id], url), /: cancelled at iteration/);
  const job = await (await fetch(`${url}/v1/jobs/${id}`)).json();
  assert.equal(job.status, "cancelled");
  const unknown = await run(command, [...args, "--cancel", "no-such-job"], url, 1);
  assert.match(unknown, /refused \(404\): no job "no-such-job"/);
}

Deno.test("the example clients each save the stylized image; Python and Deno list and cancel jobs", async (t) => {
  const server = await testServer();
  const work = await Deno.makeTempDir({ prefix: "restyle-examples-" });
  const layer = `${work}/layer.png`;
  await Deno.writeFile(layer, await encodePng(gradientWithAlpha(56, 40)));
  const sizeOf = async (path: string) => {
    const image = await decodeImage(await Deno.readFile(path));
    return [image.width, image.height];
  };
  try {
    await t.step("examples/curl_job.sh: job, SSE events, latest image", async () => {
      const out = await run(
        "sh",
        ["examples/curl_job.sh", layer, "the-scream", `${work}/curl.png`],
        server.url,
      );
      assert.match(out, /"status":"queued"/);
      assert.match(out, /event: iteration\ndata: \{"iteration":2,/);
      assert.match(out, /event: done/);
      assert.deepEqual(await sizeOf(`${work}/curl.png`), [56, 40]);
    });
    await t.step("examples/python_client.py: previews and result", async () => {
      const out = await run(
        "python3",
        ["examples/python_client.py", layer, "great-wave", `${work}/py.png`],
        server.url,
      );
      assert.match(out, /iteration 4\/4/);
      assert.deepEqual(await sizeOf(`${work}/py-2.png`), [56, 40]);
      assert.deepEqual(await sizeOf(`${work}/py.png`), [56, 40]);
    });
    await t.step("examples/deno_client.ts: NDJSON /v1/stylize", async () => {
      const out = await run(
        Deno.execPath(),
        ["run", "-A", "examples/deno_client.ts", layer, "composition-vii", `${work}/deno.png`],
        server.url,
      );
      assert.match(out, /done after 4 iterations/);
      assert.deepEqual(await sizeOf(`${work}/deno.png`), [56, 40]);
    });
    const content = await Deno.readFile(layer);
    await t.step("examples/python_client.py --list, --cancel", async () => {
      await listAndCancel(server.url, content, ["python3", "examples/python_client.py"]);
    });
    await t.step("examples/deno_client.ts --list, --cancel", async () => {
      const client = [Deno.execPath(), "run", "-A", "examples/deno_client.ts"];
      await listAndCancel(server.url, content, client);
    });
  } finally {
    await server.shutdown();
  }
});
