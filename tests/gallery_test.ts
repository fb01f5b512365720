/**
 * `deno task gallery`, smallest run: one photo × one painting on SqueezeNet at
 * 64 px, two iterations, judged by GoogLeNet. The full gallery is a benchmark
 * and stays out of the tests.
 */
import assert from "node:assert/strict";
import { decodeImage } from "../src/image/codec.ts";
import { edgeScore, gramDistance, styleRatio } from "../bench/gallery/judge.ts";

Deno.test("the judges: r is 1 for the photo itself and 0 for the painting; edge is 1 for the photo", async () => {
  const photo = [new Float32Array([1, 2, 3, 4])], painting = [new Float32Array([4, 3, 2, 1])];
  assert.equal(styleRatio(photo, photo, painting), 1);
  assert.equal(styleRatio(painting, photo, painting), 0);
  assert.ok(Math.abs(gramDistance(photo, painting) - Math.sqrt(20 / 30)) < 1e-6);
  const mirror = Deno.env.get("RESTYLE_MIRROR");
  if (!mirror) throw new Error("set RESTYLE_MIRROR to the folder holding images/ (see README)");
  const cat = await decodeImage(await Deno.readFile(`${mirror}/images/cat.png`));
  assert.ok(Math.abs(await edgeScore(cat, cat) - 1) < 1e-5);
  const flat = { ...cat, data: cat.data.map((_, i) => (i % 4 === 3 ? 255 : 128)) };
  assert.ok(
    Number.isNaN(await edgeScore(flat, cat)) || Math.abs(await edgeScore(flat, cat)) < 1e-6,
  );
});

Deno.test({
  name: "deno task gallery writes the cell, a contact sheet and the figures",
  sanitizeResources: false,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "restyle-gallery-" });
    try {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "bench/gallery/gallery.ts",
          "--networks",
          "squeezenet",
          "--photos",
          "cat.png",
          "--paintings",
          "starry-night.jpg",
          "--size",
          "64",
          "--iterations",
          "2",
          "--out",
          out,
        ],
      }).output();
      const log = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
      assert.equal(code, 0, log);
      assert.match(log, /squeezenet cat\.png × starry-night\.jpg: r \d\.\d{3}, edge -?\d\.\d{3}/);
      const figures = JSON.parse(await Deno.readTextFile(`${out}/squeezenet.json`));
      assert.equal(figures.judge, "googlenet");
      assert.equal(figures.cells.length, 1);
      const [cell] = figures.cells;
      assert.ok(cell.r > 0 && Number.isFinite(cell.r));
      assert.ok(cell.evaluations >= 2);
      const image = await decodeImage(await Deno.readFile(`${out}/${cell.file}`));
      assert.equal(Math.max(image.width, image.height), 64);
      const sheet = await decodeImage(await Deno.readFile(`${out}/squeezenet.jpg`));
      assert.ok(sheet.width > 2 * 256 && sheet.height > 2 * 200);
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  },
});
