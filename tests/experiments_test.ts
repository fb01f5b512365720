import assert from "node:assert/strict";
import { decodeImage } from "../src/image/codec.ts";

const mirror = Deno.env.get("RESTYLE_MIRROR");

/** Runs an example script small and fast; returns its per-iteration losses and frame paths. */
async function runExample(script: string) {
  const outDir = await Deno.makeTempDir({ prefix: "restyle-example-test-" });
  const { success, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      script,
      "",
      "",
      outDir,
      "--max-size",
      "48",
      "--max-detail-size", // one stage, its result upscaled to the content
      "48",
      "--iterations",
      "6",
      "--preview-every",
      "3",
    ],
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(stdout);
  assert.ok(success, `${script} failed:\n${new TextDecoder().decode(stderr)}`);
  const losses = [...text.matchAll(/^\d+\/6 loss (\S+)$/gm)].map((m) => Number(m[1]));
  const frames = [...Deno.readDirSync(outDir)].map((e) => e.name).sort();
  return { losses, frames: frames.map((f) => `${outDir}/${f}`), names: frames, outDir };
}

for (const script of ["recreate_content", "recreate_style", "transfer"]) {
  Deno.test({
    name:
      `examples/${script}.ts writes a frame per preview at the content's size as its loss falls`,
    ignore: !mirror,
    async fn() {
      const { losses, frames, names, outDir } = await runExample(`examples/${script}.ts`);
      assert.equal(losses.length, 6);
      assert.ok(losses[5] < losses[0], `loss ${losses[0]} -> ${losses[5]}`);
      assert.deepEqual(names, ["0003.png", "0006.png"]);
      const cat = await decodeImage(await Deno.readFile(`${mirror}/images/cat.png`));
      const last = await decodeImage(await Deno.readFile(frames[1]));
      assert.deepEqual([last.width, last.height], [cat.width, cat.height]);
      await Deno.remove(outDir, { recursive: true });
    },
  });
}
