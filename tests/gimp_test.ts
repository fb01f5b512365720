/**
 * The GIMP 3 plug-in, end to end: real GIMP 3.0 (Debian trixie, in a chroot
 * built by `.ci/gimp-root.sh`), the plug-in installed by `plugin/gimp/install.ts`,
 * the real `deno task serve` with SqueezeNet, driven from `gimp-console-3.0`
 * batch mode by `tests/fixtures/gimp_batch.py`. Needs root (chroot).
 */
import assert from "node:assert/strict";
import { decode, Image } from "imagescript";
import { sentMasks } from "./_sent_masks.ts";
import { installGimpPlugin } from "../plugin/gimp/install.ts";
import { repoPath } from "../src/config.ts";
import { closedPort, startServeCli } from "./fixtures/serve_cli.ts";
import { startRecordingProxy } from "./fixtures/recording_proxy.ts";

const ROOT = Deno.env.get("RESTYLE_GIMP_ROOT") ?? repoPath(".gimp-root");
const MIRROR = Deno.env.get("RESTYLE_MIRROR");
// Geometry set up by gimp_batch.py (image space).
const LAYER = { x: 40, y: 30, w: 96, h: 64 };
const ELLIPSE = { x: 20, y: 20, w: 100, h: 70 };
const CLEARED = { x: 40, y: 30, w: 16, h: 16 };

/** Builds the trixie root with GIMP 3.0 unless it is there already. */
async function ensureGimpRoot(): Promise<void> {
  try {
    await Deno.stat(`${ROOT}/usr/bin/gimp-console-3.0`);
    return;
  } catch {
    // build it below
  }
  const { success, stderr } = await new Deno.Command(repoPath(".ci/gimp-root.sh"), {
    args: [ROOT],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(success, `.ci/gimp-root.sh failed:\n${new TextDecoder().decode(stderr)}`);
}

interface BatchRun {
  facts: Record<string, unknown> & {
    registered: boolean;
    status?: string;
    error?: string;
    previews?: Preview[];
    /** Mode `run`: [status, error] of the other Selection choices, and the layers after. */
    otherModes?: {
      maskResult: [string, string | null];
      perChannel: [string, string | null];
      topLevelNames: string[];
    };
    /** [status, error] of the run with a wrong token typed in (mode `token`). */
    wrongToken?: [string, string | null];
  };
  log: string;
  outDir: string;
}

interface Preview {
  name: string;
  width: number;
  height: number;
  offsets: [number, number];
  differFromSource: number;
  differFromPrevious: number | null;
  maxAlphaInClearedBlock: number;
  hasMask: boolean;
  maskMismatches: number | null;
  maskSelected: number | null;
}

/**
 * Installs the plug-in into a fresh $HOME inside the root and runs gimp_batch.py once.
 * `tokenFile`: the token file the installer records, as a path inside the root.
 */
async function runGimpBatch(
  mode: "run" | "token" | "unreachable",
  url: string,
  tokenFile?: string,
): Promise<BatchRun> {
  assert.ok(MIRROR, "RESTYLE_MIRROR must name the mirror (it holds images/cat.png)");
  await ensureGimpRoot();
  const work = await Deno.makeTempDir({ dir: `${ROOT}/tmp`, prefix: "restyle-gimp-" });
  const inRoot = work.slice(ROOT.length);
  try {
    await installGimpPlugin(`${work}/home/.config/GIMP/3.0`, tokenFile);
    await Deno.copyFile(`${MIRROR}/images/cat.png`, `${work}/cat.png`);
    await Deno.mkdir(`${work}/out`);
    const child = new Deno.Command("chroot", {
      args: [
        ROOT,
        "env",
        "-i",
        `HOME=${inRoot}/home`,
        "PATH=/usr/bin:/bin",
        "LANG=C.UTF-8",
        "PYTHONUNBUFFERED=1",
        `RESTYLE_URL=${url}`,
        `BATCH_MODE=${mode}`,
        `BATCH_CONTENT=${inRoot}/cat.png`,
        `BATCH_OUT=${inRoot}/out`,
        "BATCH_STYLE=starry-night",
        `BATCH_URL=${url}`,
        "gimp-console-3.0",
        "-i",
        "--batch-interpreter",
        "python-fu-eval",
        "-b",
        "-",
        "--quit",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(await Deno.readFile(repoPath("tests/fixtures/gimp_batch.py")));
    await writer.close();
    const { code, stdout, stderr } = await child.output();
    const log = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    const line = log.split("\n").find((l) => l.startsWith("RESULT "));
    assert.equal(code, 0, `gimp-console-3.0 exited ${code}:\n${log}`);
    assert.ok(line, `the batch script printed no RESULT line:\n${log}`);
    const outDir = await Deno.makeTempDir({ prefix: "restyle-gimp-out-" });
    for await (const entry of Deno.readDir(`${work}/out`)) {
      await Deno.copyFile(`${work}/out/${entry.name}`, `${outDir}/${entry.name}`);
    }
    return { facts: JSON.parse(line.slice("RESULT ".length)), log, outDir };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

async function readPng(path: string): Promise<Image> {
  const image = await decode(await Deno.readFile(path));
  assert.ok(image instanceof Image, `${path} is not a still image`);
  return image;
}

/** Distance from the ellipse's centre in radii (1 = on its edge). */
function ellipseRadius(x: number, y: number): number {
  const dx = (x + 0.5 - (ELLIPSE.x + ELLIPSE.w / 2)) / (ELLIPSE.w / 2);
  const dy = (y + 0.5 - (ELLIPSE.y + ELLIPSE.h / 2)) / (ELLIPSE.h / 2);
  return Math.hypot(dx, dy);
}

function inside(x: number, y: number, r: { x: number; y: number; w: number; h: number }) {
  return x >= r.x && x < r.x + r.w && y >= r.y && y < r.y + r.h;
}

/** Pixels of a layer-sized mask whose value is not `expected(image x, image y)` (null: any). */
function maskMismatches(
  mask: { width: number; height: number; value: (x: number, y: number) => number },
  expected: (x: number, y: number) => number | null,
): number {
  let count = 0;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      const want = expected(x + LAYER.x, y + LAYER.y);
      if (want !== null && mask.value(x, y) !== want) count++;
    }
  }
  return count;
}

Deno.test({
  name: "GIMP: Filters > Artistic > Restyle… sends the selection as the style's mask, adds one " +
    "masked layer per preview in a group above the source, at its offsets, and closes its undo " +
    "group; its other Selection choices mask only the result, or pair named channels with styles",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.equal(Deno.uid(), 0, "this test runs GIMP in a chroot: run it as root (CI does)");
    const server = await startServeCli();
    const proxy = startRecordingProxy(server.url);
    try {
      const { facts, log, outDir } = await runGimpBatch("run", proxy.url);
      assert.equal(facts.registered, true, `plug-in-restyle is not registered:\n${log}`);
      assert.equal(facts.status, "success", `the plug-in failed: ${facts.error}\n${log}`);
      assert.doesNotMatch(log, /Traceback/);
      // Strength goes to the server as it is (50 = the network's tuned balance), not as
      // an absolute style weight that ignores the preset.
      const [options] = await proxy.jobOptions();
      assert.equal(options.strength, 80);
      assert.equal(options.styleWeight, undefined);
      // Full resolution unless the user lowers "Optimise up to".
      assert.equal(options.maxDetailSize, 16384);
      assert.equal(options.detailIterations, 2);

      // By default the selection is sent as the style's mask: the layer's area of it.
      const [paintInside, maskResult, perChannel] = await proxy.jobForms();
      const [mask] = await sentMasks(paintInside);
      assert.equal(paintInside.getAll("mask").length, 1);
      assert.deepEqual([mask.width, mask.height], [LAYER.w, LAYER.h]);
      const ellipse = (x: number, y: number) => {
        const r = ellipseRadius(x, y);
        return r < 0.9 ? 255 : r > 1.1 ? 0 : null;
      };
      assert.equal(maskMismatches(mask, ellipse), 0, "the mask sent is not the selection");
      // "Mask the result" sends no mask; the selection still masks each preview.
      const other = facts.otherModes!;
      assert.equal(other.maskResult[0], "success", `mask the result: ${other.maskResult[1]}`);
      assert.deepEqual(maskResult.getAll("mask"), []);
      // "One style per channel": the channels named after a style (its id, its title), each
      // sent as that style's mask, in the Channels panel's order (top first: the last saved);
      // the channel named after no style is left out.
      assert.equal(other.perChannel[0], "success", `one style per channel: ${other.perChannel[1]}`);
      assert.deepEqual(perChannel.getAll("style"), ["great-wave", "starry-night"]);
      assert.deepEqual(perChannel.getAll("styleImage"), []);
      const [right, left] = await sentMasks(perChannel);
      assert.equal(perChannel.getAll("mask").length, 2);
      const half = (leftHalf: boolean) => (x: number) => (x < LAYER.x + 48) === leftHalf ? 255 : 0;
      assert.equal(maskMismatches(right, half(false)), 0, "great-wave's mask");
      assert.equal(maskMismatches(left, half(true)), 0, "starry-night's mask");
      // Each run's group is directly above the source: the newest, named after its styles,
      // below the two runs before it (GIMP numbers the second of a name).
      assert.deepEqual(other.topLevelNames, [
        "Restyle: The Starry Night",
        "Restyle: The Starry Night #1",
        "Restyle: The Great Wave off Kanagawa + The Starry Night",
        "cat",
        "background",
      ]);

      // A layer group directly above the source layer, named after the style.
      assert.deepEqual(facts.topLevelNames, ["Restyle: The Starry Night", "cat", "background"]);
      const previews = facts.previews!;
      // iterations 4 at 64 px, then 2 at the layer's own 96 px (full resolution is the
      // default), preview every 2: previews at iterations 2, 4 and 6, newest on top.
      assert.deepEqual(previews.map((p) => p.name), [
        "The Starry Night — iteration 2",
        "The Starry Night — iteration 4",
        "The Starry Night — iteration 6",
      ]);
      for (const p of previews) {
        assert.deepEqual([p.width, p.height], [LAYER.w, LAYER.h], `${p.name}: source size`);
        assert.deepEqual(p.offsets, [LAYER.x, LAYER.y], `${p.name}: source offsets`);
        assert.ok(p.differFromSource > LAYER.w * LAYER.h / 20, `${p.name} barely differs`);
        assert.equal(p.maxAlphaInClearedBlock, 0, `${p.name}: transparency kept`);
        assert.ok(p.hasMask, `${p.name} has no layer mask`);
        assert.equal(p.maskMismatches, 0, `${p.name}: mask differs from the selection`);
        assert.equal(p.maskSelected, facts.selectedInLayer);
      }
      assert.ok((facts.selectedInLayer as number) < (facts.pixelsInLayer as number));
      assert.ok(previews[1].differFromPrevious! > 0, "the two previews are identical");
      assert.equal(facts.undoGroupLeftOpen, false, "the plug-in left its undo group open");
      assert.equal(facts.undoEnabled, true);

      // The exported image: changed inside the selection, untouched outside it
      // and where the source layer is transparent.
      const before = await readPng(`${outDir}/before.png`);
      const after = await readPng(`${outDir}/after.png`);
      assert.deepEqual([after.width, after.height], [160, 120]);
      let changedInside = 0, checkedInside = 0, changedOutside = 0, changedCleared = 0;
      for (let y = 0; y < after.height; y++) {
        for (let x = 0; x < after.width; x++) {
          const changed = before.getPixelAt(x + 1, y + 1) !== after.getPixelAt(x + 1, y + 1);
          const r = ellipseRadius(x, y);
          if (inside(x, y, CLEARED)) changedCleared += Number(changed);
          else if (inside(x, y, LAYER) && r < 0.9) {
            checkedInside++;
            changedInside += Number(changed);
          } else if (r > 1.1 || !inside(x, y, LAYER)) changedOutside += Number(changed);
        }
      }
      assert.equal(changedOutside, 0, "pixels outside the selection or layer changed");
      assert.equal(changedCleared, 0, "the transparent block of the source changed");
      assert.ok(changedInside > checkedInside / 2, `${changedInside}/${checkedInside} changed`);
      await Deno.remove(outDir, { recursive: true });
    } finally {
      await proxy.close();
      await server.close();
    }
  },
});

Deno.test({
  name: "GIMP: with no server running, Restyle fails with a message saying how to start it, " +
    "not a traceback",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.equal(Deno.uid(), 0, "this test runs GIMP in a chroot: run it as root (CI does)");
    const url = `http://127.0.0.1:${closedPort()}`;
    const { facts, log, outDir } = await runGimpBatch("unreachable", url);
    await Deno.remove(outDir, { recursive: true });
    assert.equal(facts.registered, true);
    assert.equal(facts.status, "execution-error");
    assert.match(facts.error!, new RegExp(`Cannot reach the Restyle server at ${url}`));
    assert.match(facts.error!, /deno task serve/);
    assert.doesNotMatch(log, /Traceback/);
    assert.equal(facts.undoGroupLeftOpen, false);
  },
});

Deno.test({
  name: "GIMP: against a server started with --generate-token, the plug-in sends the token " +
    "from the token file install-gimp recorded; a token typed in comes first",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.equal(Deno.uid(), 0, "this test runs GIMP in a chroot: run it as root (CI does)");
    // The server's data folder inside the root, so GIMP in the chroot can read the token file.
    const data = await Deno.makeTempDir({ dir: `${ROOT}/tmp`, prefix: "restyle-gimp-data-" });
    const server = await startServeCli(["--generate-token"], { RESTYLE_DATA: data });
    const proxy = startRecordingProxy(server.url);
    try {
      const token = (await Deno.readTextFile(`${data}/token`)).trim();
      assert.match(server.log(), /bearer token required: it is in .*\/token/);
      // No RESTYLE_TOKEN reaches GIMP (`env -i`), and no token is typed in.
      const { facts, log, outDir } = await runGimpBatch(
        "token",
        proxy.url,
        `${data.slice(ROOT.length)}/token`,
      );
      await Deno.remove(outDir, { recursive: true });
      assert.doesNotMatch(log, /Traceback/);
      const [wrongStatus, wrongError] = facts.wrongToken!;
      assert.equal(wrongStatus, "execution-error");
      assert.match(wrongError!, /answered 401: .*set the token in the Restyle dialog/);
      assert.equal(facts.status, "success", `the plug-in failed: ${facts.error}\n${log}`);
      assert.deepEqual(facts.topLevelNames, ["Restyle: The Starry Night", "cat", "background"]);
      assert.equal(facts.previews!.length, 3);
      // What the plug-in sent: the typed token for the first job, the file's for the second
      // and for every other request (the style list GIMP asks for when it starts included).
      const auth = (r: { headers: Headers }) => r.headers.get("authorization");
      const jobs = proxy.requests.filter((r) => r.method === "POST" && r.path === "/v1/jobs");
      assert.deepEqual(jobs.map(auth), ["Bearer not-the-token", `Bearer ${token}`]);
      const others = proxy.requests.filter((r) => auth(r) !== "Bearer not-the-token");
      assert.deepEqual(new Set(others.map(auth)), new Set([`Bearer ${token}`]));
    } finally {
      await proxy.close();
      await server.close();
      await Deno.remove(data, { recursive: true });
    }
  },
});
