/**
 * The three example clients (curl, Python stdlib, Deno) each stylize a real
 * image against a real server and save a PNG at the image's size.
 */
import assert from "node:assert/strict";
import { decodeImage, encodePng, gradientWithAlpha, testServer } from "./_server.ts";

const OPTIONS = JSON.stringify({
  iterations: 4,
  previewEvery: 2,
  maxSize: 48,
  maxDetailSize: 48,
  seed: 3,
});

async function run(command: string, args: string[], url: string) {
  const output = await new Deno.Command(command, {
    args,
    env: { RESTYLE_URL: url, RESTYLE_OPTIONS: OPTIONS },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, text);
  return text;
}

Deno.test("curl, Python and Deno example clients each save the stylized image", async (t) => {
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
  } finally {
    await server.shutdown();
  }
});
