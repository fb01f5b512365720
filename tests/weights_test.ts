/**
 * Fetching and converting weights: verified copies from a mirror, verified
 * downloads over real HTTP, the canonical layout of converted kernels, and the
 * `deno task weights` command's messages and exit codes.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { initBackend } from "../src/backend.ts";
import { mirrorDir, repoPath } from "../src/config.ts";
import { FetchError, fetchVerified, type SourceFile } from "../src/fetch.ts";
import { installWeights } from "../src/weights/install.ts";
import { readManifest } from "../src/weights/manifest.ts";
import { readStore } from "../src/weights/store.ts";

await initBackend();

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");

function sourceFile(path: string, bytes: Uint8Array, urls: string[] = []): SourceFile {
  return { path, size: bytes.length, sha256: sha256(bytes), urls };
}

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const alpha = new TextEncoder().encode("alpha weights\n");
const beta = new Uint8Array(70_000).map((_, i) => (i * 31) % 251);

Deno.test("fetchVerified copies from a mirror, verifies, and skips files already in place", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mirror/things/sub`, { recursive: true });
    await Deno.writeFile(`${dir}/mirror/things/a.txt`, alpha);
    await Deno.writeFile(`${dir}/mirror/things/sub/b.bin`, beta);
    const files = [sourceFile("a.txt", alpha), sourceFile("sub/b.bin", beta)];
    const options = { mirror: `${dir}/mirror`, mirrorPrefix: "things", dest: `${dir}/out` };
    const seen: number[] = [];
    await fetchVerified(files, { ...options, onProgress: (p) => seen.push(p.bytesDone) });
    assert.deepEqual(await Deno.readFile(`${dir}/out/sub/b.bin`), beta);
    assert.equal(seen.at(-1), alpha.length + beta.length);

    await Deno.remove(`${dir}/mirror`, { recursive: true }); // a second run needs no source
    await fetchVerified(files, options);
  }));

Deno.test("fetchVerified names a corrupt or missing mirror file and the fix command", () =>
  withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/mirror/things`, { recursive: true });
    const damaged = alpha.slice();
    damaged[0] ^= 1;
    await Deno.writeFile(`${dir}/mirror/things/a.txt`, damaged);
    const options = {
      mirror: `${dir}/mirror`,
      mirrorPrefix: "things",
      dest: `${dir}/out`,
      fixCommand: "deno task weights things",
    };
    await assert.rejects(
      fetchVerified([sourceFile("a.txt", alpha)], options),
      (e: Error) =>
        e instanceof FetchError && e.message.includes(`${dir}/mirror/things/a.txt`) &&
        e.message.includes("sha256") && e.message.includes("deno task weights things"),
    );
    await assert.rejects(
      Deno.stat(`${dir}/out/a.txt`),
      Deno.errors.NotFound,
      "a bad file is not left in place",
    );
    await assert.rejects(
      fetchVerified([sourceFile("gone.bin", beta)], options),
      (e: Error) =>
        e.message.includes(`${dir}/mirror/things/gone.bin is missing`) &&
        e.message.includes("deno task weights things"),
    );
  }));

Deno.test("fetchVerified downloads over HTTP, trying the next URL after a failure, md5 or sha256", () =>
  withTempDir(async (dir) => {
    const served: string[] = [];
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (request) => {
      const path = new URL(request.url).pathname;
      served.push(path);
      if (path === "/good/a.txt") return new Response(alpha);
      if (path === "/good/b.bin") return new Response(beta);
      return new Response("no", { status: 404 });
    });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      const files: SourceFile[] = [
        sourceFile("a.txt", alpha, [`${base}/missing/a.txt`, `${base}/good/a.txt`]),
        {
          path: "b.bin",
          size: beta.length,
          sha256: null,
          md5: md5(beta),
          urls: [`${base}/good/b.bin`],
        },
      ];
      await fetchVerified(files, { mirrorPrefix: "unused", dest: `${dir}/out` });
      assert.deepEqual(await Deno.readFile(`${dir}/out/a.txt`), alpha);
      assert.deepEqual(await Deno.readFile(`${dir}/out/b.bin`), beta);
      assert.ok(served.includes("/missing/a.txt") && served.includes("/good/a.txt"));

      const wrong: SourceFile = { ...sourceFile("c.bin", beta), urls: [`${base}/good/a.txt`] };
      await assert.rejects(
        fetchVerified([wrong], { mirrorPrefix: "unused", dest: `${dir}/out`, fixCommand: "fix" }),
        /c\.bin does not verify \(size 14 bytes, expected 70000\)/,
      );
    } finally {
      await server.shutdown();
    }
  }));

Deno.test("converted caffe kernels are the raw [out,kh,kw,in] floats permuted to HWIO", () =>
  withTempDir(async (dir) => {
    const mirror = mirrorDir();
    assert.ok(mirror, "set RESTYLE_MIRROR");
    assert.equal(await installWeights("squeezenet", { mirror, dir }), "installed");
    assert.equal(await installWeights("squeezenet", { mirror, dir }), "up-to-date");
    const { tensors, labels } = await readStore(`${dir}/squeezenet`, "fix");
    assert.equal(labels?.[285], "n02124075 Egyptian cat");
    const kernel = tensors["conv1/kernel"];
    assert.deepEqual(kernel.shape, [3, 3, 3, 64]);
    const raw = new Float32Array(
      (await Deno.readFile(`${mirror}/weights/squeezenet/weights/conv1_filter.bin`)).buffer,
    );
    const hwio = kernel.dataSync();
    for (const [o, y, x, i] of [[0, 0, 0, 0], [5, 1, 2, 0], [63, 2, 2, 2], [17, 0, 1, 1]]) {
      assert.equal(hwio[((y * 3 + x) * 3 + i) * 64 + o], raw[((o * 3 + y) * 3 + x) * 3 + i]);
    }
    const manifest = await readManifest();
    const params = manifest.networks.squeezenet.tensors!
      .reduce((sum, t) => sum + t.shape.reduce((a, b) => a * b, 1), 0);
    assert.equal(params, 1_235_496);
    assert.equal(Object.keys(tensors).length, 52);
    Object.values(tensors).forEach((t) => t.dispose());
  }));

async function runWeightsCommand(args: string[], env: Record<string, string>) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", repoPath("src/cli/weights.ts"), ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: text(output.stdout), stderr: text(output.stderr) };
}

Deno.test("deno task weights installs from a mirror, then says up to date", () =>
  withTempDir(async (home) => {
    const env = { RESTYLE_HOME: home, RESTYLE_MIRROR: mirrorDir() ?? "" };
    const first = await runWeightsCommand(["squeezenet"], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /squeezenet: installed/);
    const second = await runWeightsCommand(["squeezenet"], env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.trim(), "squeezenet: up to date");
  }));

Deno.test("deno task weights exits non-zero naming the missing file and the command", () =>
  withTempDir(async (home) => {
    await Deno.mkdir(`${home}/empty-mirror`);
    const run = await runWeightsCommand(["googlenet", "--from", `${home}/empty-mirror`], {
      RESTYLE_HOME: home,
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /empty-mirror\/weights\/googlenet\/weights\/\S+ is missing/);
    assert.match(run.stderr, /deno task weights googlenet/);
    const unknown = await runWeightsCommand(["resnet"], { RESTYLE_HOME: home });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown network "resnet"/);
  }));
