import assert from "node:assert/strict";
import { decodeImage, encodePng } from "../src/image/codec.ts";
import { readStyle } from "../src/cli/stylize.ts";
import { StyleStore } from "../src/styles/store.ts";
import { rampImage } from "./_tiny_net.ts";

const mirror = Deno.env.get("RESTYLE_MIRROR");
const cli = new URL("../src/cli/stylize.ts", import.meta.url).pathname;

async function stylizeCli(...args: string[]) {
  return await stylizeCliIn(undefined, ...args);
}

/** The CLI with only `env` as its environment (`undefined`: this process's). */
async function stylizeCliIn(env: Record<string, string> | undefined, ...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", cli, ...args],
    stdout: "piped",
    stderr: "piped",
    ...(env ? { clearEnv: true, env } : {}),
  }).output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code, stdout: text(stdout), stderr: text(stderr) };
}

async function fixtureDir() {
  const dir = await Deno.makeTempDir({ prefix: "restyle-cli-" });
  await Deno.writeFile(`${dir}/content.png`, await encodePng(rampImage(80, 60, (x) => 100 + x)));
  await Deno.writeFile(`${dir}/style.png`, await encodePng(rampImage(32, 32)));
  return dir;
}

Deno.test({
  name: "stylize CLI --json prints one line per iteration and a done line, and writes the PNG",
  ignore: !mirror,
  async fn() {
    const dir = await fixtureDir();
    const out = `${dir}/out.png`;
    const run = await stylizeCli(
      `${dir}/content.png`,
      ...["--style", `${dir}/style.png`, "--out", out, "--json", "--iterations", "3"],
      ...["--preview-every", "2", "--max-size", "64", "--max-detail-size", "64", "--seed", "1"],
      ...["--frames", `${dir}/frames`],
      ...["--gif", `${dir}/out.gif`],
    );
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /backend (webgpu|onnx|wasm|cpu) on /);
    const lines = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
    assert.equal(lines.length, 4);
    lines.slice(0, 3).forEach((line, i) => {
      assert.equal(line.iteration, i + 1);
      assert.equal(line.iterations, 3);
      assert.ok(line.evaluations >= line.iteration, `${line.evaluations} evaluations`);
      assert.ok(line.ms >= 0 && line.ms <= lines[3].ms, `${line.ms} ms`);
      for (const key of ["total", "content", "style", "tv"]) {
        assert.equal(typeof line.losses[key], "number");
      }
    });
    assert.equal(lines[3].done, true);
    assert.equal(lines[3].out, out);
    assert.equal(typeof lines[3].ms, "number");
    const image = await decodeImage(await Deno.readFile(out));
    assert.deepEqual([image.width, image.height], [80, 60]);
    assert.equal(image.data[3], 100); // the content's alpha
    const frames = [...Deno.readDirSync(`${dir}/frames`)].map((e) => e.name).sort();
    assert.deepEqual(frames, ["out-0002.png", "out-0003.png"]);
    assert.ok((await Deno.stat(`${dir}/out.gif`)).size > 0);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "stylize CLI without a desktop session prints only its own lines: no XDG_RUNTIME_DIR " +
    "complaint from the WebGPU probe, no warning",
  ignore: !mirror,
  async fn() {
    const dir = await fixtureDir();
    // No XDG_RUNTIME_DIR, as over ssh or in CI; a fresh data dir, so the backend probe runs
    // (each WebGPU adapter request complained once where a Vulkan driver is installed).
    const env = Object.fromEntries(
      ["HOME", "PATH", "DENO_DIR", "RESTYLE_MIRROR", "RESTYLE_HOME", "RESTYLE_BACKEND"]
        .flatMap((name) => Deno.env.get(name) ? [[name, Deno.env.get(name)!]] : []),
    );
    env.RESTYLE_DATA = `${dir}/data`;
    const run = await stylizeCliIn(
      env,
      `${dir}/content.png`,
      ...["--style", `${dir}/style.png`, "--out", `${dir}/out.png`, "--iterations", "2"],
      ...["--max-size", "64", "--max-detail-size", "64"],
    );
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stderr.trim().split("\n");
    assert.match(lines[0], /^restyle: backend (webgpu|onnx|wasm|cpu) on /, run.stderr);
    assert.match(lines[1], /^restyle: wrote .*out\.png in [\d.]+ s$/, run.stderr);
    assert.equal(lines.length, 2, run.stderr);
    assert.equal(run.stdout, "");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("stylize CLI rejects bad arguments with a clear message and exit code 2", async () => {
  const dir = await fixtureDir();
  const base = [`${dir}/content.png`, "--style", `${dir}/style.png`];
  const cases: [string[], RegExp][] = [
    [[`${dir}/content.png`, "--style", `${dir}/style.png`], /missing --out/],
    [[`${dir}/content.png`, "--out", "x.png"], /missing --style/],
    [[...base, "--out", "x.png", "--iterations", "many"], /--iterations: "many" is not a number/],
    [[...base, "--out", "x.png", "--iterations", "0"], /--iterations: Too small/],
    [[...base, "--out", "x.png", "--network", "alexnet"], /--network: /],
    [[...base, "--out", "x.png", "--pooling", "square"], /--pooling: /],
    [
      [...base, "--out", "x.png", "--backend", "cuda"],
      /--backend: "cuda" is not one of webgpu, onnx/,
    ],
    [[...base, "--out", "x.png", "--strength", "120"], /--strength: Too big/],
    [[...base, "--out", "x.png", "--bogus"], /Unknown option '--bogus'/],
    [[`${dir}/nope.png`, "--style", `${dir}/style.png`, "--out", "x.png"], /content .*nope\.png/],
    [
      [`${dir}/content.png`, "--style", "no-such-style", "--out", "x.png"],
      /no such file, and no style "no-such-style"; built-in styles are .*starry-night/,
    ],
  ];
  for (const [args, message] of cases) {
    const run = await stylizeCli(...args);
    assert.equal(run.code, 2, `${args.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, message);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name: "--style reads the style store: an upload by its id, a built-in style fetched when missing",
  ignore: !mirror,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "restyle-cli-styles-" });
    const store = await StyleStore.open({ dir });
    const mine = await store.add(await encodePng(rampImage(32, 24)), "Mine");
    const image = await readStyle(mine.id, store);
    assert.deepEqual([image.width, image.height], [32, 24]);
    const starry = await readStyle("starry-night", store);
    assert.deepEqual([starry.width, starry.height], [1024, 640]);
    assert.ok((await Deno.stat(`${dir}/catalogue/starry-night.jpg`)).isFile);
    await assert.rejects(readStyle("nope", store), /no such file, and no style "nope"/);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "stylize CLI --mask: the style paints where the mask is white; a mask per style or one",
  ignore: !mirror,
  async fn() {
    const dir = await fixtureDir();
    // A smooth content (the fixture's blue channel is noise, which any run smooths), and a
    // mask whose left half is opaque (styled) and right half transparent (untouched).
    const smooth = rampImage(80, 60);
    for (let p = 0; p < 80 * 60; p++) smooth.data[4 * p + 2] = 128;
    await Deno.writeFile(`${dir}/content.png`, await encodePng(smooth));
    const mask = rampImage(80, 60, (x) => (x < 40 ? 255 : 0));
    await Deno.writeFile(`${dir}/mask.png`, await encodePng(mask));
    const common = [
      "--iterations",
      "6",
      "--max-size",
      "64",
      "--max-detail-size",
      "80",
      "--seed",
      "1",
    ];
    const run = (out: string, ...mask: string[]) =>
      stylizeCli(
        `${dir}/content.png`,
        "--style",
        `${dir}/style.png`,
        ...mask,
        "--out",
        out,
        ...common,
      );
    const masked = await run(`${dir}/masked.png`, "--mask", `${dir}/mask.png`);
    assert.equal(masked.code, 0, masked.stderr);
    const unmasked = await run(`${dir}/unmasked.png`);
    assert.equal(unmasked.code, 0, unmasked.stderr);
    const content = await decodeImage(await Deno.readFile(`${dir}/content.png`));
    /** Mean |out − content| over the RGB of columns [from, to). */
    const change = async (file: string, from: number, to: number) => {
      const out = await decodeImage(await Deno.readFile(file));
      let sum = 0;
      for (let y = 0; y < 60; y++) {
        for (let x = from; x < to; x++) {
          for (let c = 0; c < 3; c++) {
            const i = 4 * (y * 80 + x) + c;
            sum += Math.abs(out.data[i] - content.data[i]);
          }
        }
      }
      return sum / (60 * (to - from) * 3);
    };
    // The black half is painted far less than without the mask; the white half is painted.
    const [right, rightUnmasked] = [
      await change(`${dir}/masked.png`, 50, 80),
      await change(`${dir}/unmasked.png`, 50, 80),
    ];
    assert.ok(right < 0.7 * rightUnmasked, `right half ${right} masked, ${rightUnmasked} unmasked`);
    assert.ok(await change(`${dir}/masked.png`, 0, 30) > right);

    // Two masks for one style: refused, naming the field.
    const wrong = await stylizeCli(
      `${dir}/content.png`,
      ...["--style", `${dir}/style.png`, "--mask", `${dir}/mask.png`, "--mask", `${dir}/mask.png`],
      ...["--out", `${dir}/wrong.png`, ...common],
    );
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /masks.*one per style image \(1\), got 2/);
    await Deno.remove(dir, { recursive: true });
  },
});
