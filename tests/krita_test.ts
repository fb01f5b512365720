/**
 * The Krita plug-in, end to end, in real Krita run headless by `kritarunner`
 * (`QT_QPA_PLATFORM=offscreen`): Debian 12's Krita 5.1 on the host (`.ci/run`
 * installs `krita python3-pyqt5`) and Debian 13's Krita 5.2 in the trixie root
 * (`tests/fixtures/krita_root.sh`, which adds it to the GIMP test's root). The
 * plug-in is installed by `plugin/krita/install.ts`, the server is the real
 * `deno task serve` with SqueezeNet, and `tests/fixtures/krita_restyle.py` drives
 * the plug-in's restyle entry point and its docker, writing what it observed as
 * JSON (kritarunner exits 0 even when a script fails). Needs root.
 */
import assert from "node:assert/strict";
import { sentMasks } from "./_sent_masks.ts";
import {
  enablePlugin,
  installKritaPlugin,
  kritarcPath,
  kritaResourceDir,
} from "../plugin/krita/install.ts";
import { repoPath } from "../src/config.ts";
import { closedPort, startServeCli } from "./fixtures/serve_cli.ts";
import { startRecordingProxy } from "./fixtures/recording_proxy.ts";

const MIRROR = Deno.env.get("RESTYLE_MIRROR");
const TRIXIE_ROOT = Deno.env.get("RESTYLE_KRITA_ROOT") ?? Deno.env.get("RESTYLE_GIMP_ROOT") ??
  repoPath(".gimp-root");
// Geometry set up by krita_restyle.py: a 96x64 layer at (40, 30) under an
// ellipse selected at (20, 20, 100, 70): the part sent is their overlap.
const LAYER = [40, 30, 96, 64];
const REGION = [40, 30, 80, 60];
const ELLIPSE = [20, 20, 100, 70];
const DOWN_MESSAGE = /Cannot reach the Restyle server at (\S+) .*\n.*deno task serve/;

/** Where a Krita runs: on the host, or inside a chroot. */
interface KritaHost {
  label: string;
  /** The chroot, or "" for the host. */
  root: string;
  /** Ensures this Krita is installed; throws a clear error when it cannot be. */
  ready(): Promise<void>;
}

async function run(cmd: string, args: string[], env?: Record<string, string>) {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    env,
    clearEnv: env !== undefined,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  return { code, text };
}

const debian12: KritaHost = {
  label: "Krita 5.1 (Debian 12)",
  root: "",
  async ready() {
    const { code, text } = await run("dpkg-query", ["-W", "-f", "${Version}", "krita"]);
    assert.equal(code, 0, "Krita is not installed: apt-get install krita python3-pyqt5");
    assert.match(text, /^1:5\.[1-9]/, `Krita 5.1 or later expected, got ${text}`);
    const pyqt = await run("/usr/bin/python3", ["-c", "import PyQt5.QtCore"]);
    assert.equal(pyqt.code, 0, "PyQt5 is missing: apt-get install python3-pyqt5");
  },
};

const debian13: KritaHost = {
  label: "Krita 5.2 (Debian 13 root)",
  root: TRIXIE_ROOT,
  async ready() {
    const { code, text } = await run(repoPath("tests/fixtures/krita_root.sh"), [TRIXIE_ROOT]);
    assert.equal(code, 0, `tests/fixtures/krita_root.sh failed:\n${text}`);
  },
};

interface Preview {
  name: string;
  type: string;
  bounds: number[];
  differFromSource: number;
  differFromPrevious: number | null;
  alphaMismatches: number;
  maskedAlphaMismatches?: number;
  maxAlphaInClearedBlock: number | null;
  children: string[];
  maskLength?: number;
  maskMismatches?: number;
  maskSelected?: number;
}

interface RunFacts {
  outcome: string;
  message: string;
  topLevel: string[];
  sourceBounds: number[];
  groupName?: string;
  groupType?: string;
  groupParentIsSourceParent?: boolean;
  region?: number[];
  selectedInRegion?: number;
  previews?: Preview[];
  pixelsInRegion?: number;
  progress?: number[][];
  composite?: { inside: number; changedInside: number; outside: number; changedOutside: number };
  /** The document once the run's group was deleted, against the document before the run. */
  removed?: RunRemoved;
}

interface RunRemoved {
  treeAsBefore: boolean;
  tree: unknown[];
  changedBytes: number;
}

interface DockerFacts {
  stylesLoaded: boolean;
  styles: [string, string][];
  stylesError: string;
  statusAfterLoad: string;
  running: boolean;
  cancelEnabled: boolean;
  finished: boolean;
  status: string;
  progress: number;
  added: string[];
  startEnabled: boolean;
}

// deno-lint-ignore no-explicit-any
type Result = Record<string, any> & { kritaVersion?: string; scriptError?: string };

/**
 * A $HOME per Krita, kept for the whole test file: Krita's first start in a new
 * home spends seconds building its resource database.
 */
const homes = new Map<KritaHost, string>();

async function kritaHome(krita: KritaHost): Promise<string> {
  let home = homes.get(krita);
  if (!home) {
    home = await Deno.makeTempDir({ dir: `${krita.root}/tmp`, prefix: "restyle-krita-home-" });
    homes.set(krita, home);
  }
  return home;
}

globalThis.addEventListener("unload", () => {
  for (const home of homes.values()) Deno.removeSync(home, { recursive: true });
});

/**
 * Installs the plug-in (afresh) into this Krita's $HOME and runs krita_restyle.py once.
 * `tokenFile`: the token file the installer records (a path in this Krita's root).
 */
async function runKrita(
  krita: KritaHost,
  mode: "run" | "token" | "unreachable",
  url: string,
  extraEnv: Record<string, string> = {},
  tokenFile?: string,
): Promise<{ result: Result; log: string }> {
  assert.ok(MIRROR, "RESTYLE_MIRROR must name the mirror (it holds images/)");
  const work = await Deno.makeTempDir({ dir: `${krita.root}/tmp`, prefix: "restyle-krita-" });
  const inRoot = (path: string) => path.slice(krita.root.length);
  try {
    const home = await kritaHome(krita);
    const kritarc = kritarcPath((name) => ({ HOME: home })[name], "linux");
    await Deno.remove(kritarc).catch(() => {});
    const installed = await installKritaPlugin(
      kritaResourceDir((name) => ({ HOME: home })[name], "linux"),
      kritarc,
      tokenFile,
    );
    assert.match(await Deno.readTextFile(kritarc), /^\[python\]\nenable_restyle=true$/m);
    await Deno.mkdir(`${work}/fixtures`);
    await Deno.copyFile(
      repoPath("tests/fixtures/krita_restyle.py"),
      `${work}/fixtures/krita_restyle.py`,
    );
    for (const name of ["cat.png", "composition-vii.jpg"]) {
      await Deno.copyFile(`${MIRROR}/images/${name}`, `${work}/${name}`);
    }
    const env: Record<string, string> = {
      HOME: inRoot(home),
      PATH: "/usr/bin:/bin",
      LANG: "C.UTF-8",
      PYTHONUNBUFFERED: "1",
      QT_QPA_PLATFORM: "offscreen",
      XDG_RUNTIME_DIR: inRoot(work),
      PYTHONPATH: inRoot(`${work}/fixtures`),
      KRITA_PYKRITA: inRoot(installed.package.replace(/\/restyle$/, "")),
      KRITA_MODE: mode,
      KRITA_URL: url,
      RESTYLE_URL: url,
      KRITA_CONTENT: inRoot(`${work}/cat.png`),
      KRITA_STYLE_FILE: inRoot(`${work}/composition-vii.jpg`),
      KRITA_RESULT: inRoot(`${work}/result.json`),
      ...extraEnv,
    };
    const runner = ["kritarunner", "-s", "krita_restyle", "-f", "main"];
    const { code, text: log } = krita.root
      ? await run("chroot", [
        krita.root,
        "env",
        "-i",
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...runner,
      ])
      : await run("kritarunner", runner.slice(1), env);
    assert.equal(code, 0, `kritarunner exited ${code}:\n${log}`);
    let text: string;
    try {
      text = await Deno.readTextFile(`${work}/result.json`);
    } catch {
      throw new Error(`krita_restyle.py wrote no result (the plug-in did not load?):\n${log}`);
    }
    const result: Result = JSON.parse(text);
    assert.equal(result.scriptError, undefined, `krita_restyle.py failed:\n${result.scriptError}`);
    return { result, log };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** The checks common to every run that added previews. */
function assertPreviewGroup(facts: RunFacts, style: string, count: number) {
  assert.equal(facts.outcome, "done", facts.message);
  assert.equal(facts.message, `Done: ${count} preview layer(s) added.`);
  assert.equal(facts.groupName, `Restyle: ${style}`);
  assert.equal(facts.groupType, "grouplayer");
  assert.ok(facts.groupParentIsSourceParent, "the group is not beside the source");
  const previews = facts.previews!;
  assert.equal(previews.length, count);
  for (const p of previews) {
    assert.equal(p.type, "paintlayer");
    assert.deepEqual(p.bounds, facts.region, `${p.name}: at the source's position and size`);
    assert.ok(p.differFromSource > facts.pixelsInRegion! / 20, `${p.name} barely differs`);
  }
  for (const p of previews.slice(1)) {
    assert.ok(p.differFromPrevious! > 0, `${p.name} is identical to the preview before it`);
  }
}

function assertCatalogueRun(facts: RunFacts, masks: boolean) {
  assertPreviewGroup(facts, "The Starry Night", 3);
  // Directly above the source, below the layer that was above it.
  assert.deepEqual(facts.topLevel, ["Background", "cat", "Restyle: The Starry Night", "overlay"]);
  assert.deepEqual(facts.sourceBounds, LAYER);
  assert.deepEqual(facts.region, REGION, "the selection's bounds within the layer");
  // iterations 4 at 64 px, then 2 at the layer's own 96 px (full resolution is the default),
  // preview every 2: iterations 2, 4 and 6, newest on top.
  assert.deepEqual(facts.previews!.map((p) => p.name), [
    "The Starry Night — iteration 2",
    "The Starry Night — iteration 4",
    "The Starry Night — iteration 6",
  ]);
  assert.deepEqual(facts.progress!.at(-1), [6, 6]);
  const selected = facts.selectedInRegion!;
  assert.ok(selected > 0 && selected < facts.pixelsInRegion!, "the selection is partial");
  for (const p of facts.previews!) {
    assert.equal(p.maxAlphaInClearedBlock, 0, `${p.name}: the source's transparency is kept`);
    if (masks) {
      // Krita 5.2+: the layer keeps the source's alpha; a transparency mask is the selection.
      assert.equal(p.alphaMismatches, 0, `${p.name}: alpha differs from the source`);
      assert.deepEqual(p.children, ["transparencymask"], `${p.name}: one transparency mask`);
      assert.equal(p.maskLength, facts.pixelsInRegion);
      assert.equal(p.maskMismatches, 0, `${p.name}: the mask differs from the selection`);
      assert.equal(p.maskSelected, selected);
    } else {
      // Krita 5.1: no scriptable masks; the selection is applied to the layer's alpha.
      assert.deepEqual(p.children, []);
      assert.equal(p.maskedAlphaMismatches, 0, `${p.name}: alpha is not source x selection`);
    }
  }
  // What the user sees: changed inside the selection, untouched outside it.
  const composite = facts.composite!;
  assert.equal(composite.changedOutside, 0, "pixels outside the selection changed");
  assert.ok(composite.outside > 0);
  assert.ok(
    composite.changedInside > composite.inside / 2,
    `${composite.changedInside}/${composite.inside} changed inside the selection`,
  );
  assertRunRemoved(facts.removed!);
}

/** Deleting a run's group removed every node the run added and left the image as before. */
function assertRunRemoved(removed: RunRemoved) {
  assert.ok(removed.treeAsBefore, `after deleting the group: ${JSON.stringify(removed.tree)}`);
  assert.equal(removed.changedBytes, 0, "the image is not what it was before the run");
}

/** Pixels of `mask` (over `region`) whose value is not `expected(image x, image y)`. */
function maskMismatches(
  mask: { width: number; height: number; value: (x: number, y: number) => number },
  region: number[],
  expected: (x: number, y: number) => number,
): number {
  let count = 0;
  for (let y = 0; y < mask.height; y++) {
    for (let x = 0; x < mask.width; x++) {
      if (mask.value(x, y) !== expected(x + region[0], y + region[1])) count++;
    }
  }
  return count;
}

/** The fixture's elliptic selection, as krita_restyle.py draws it: 255 inside, 0 outside. */
function ellipseSelection(x: number, y: number): number {
  const [x0, y0, w, h] = ELLIPSE;
  const [cx, cy, rx, ry] = [x0 + w / 2, y0 + h / 2, w / 2, h / 2];
  return ((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1 ? 255 : 0;
}

/** What the plug-in sent: the selection as the style's mask by default, none without one,
 * and each selection mask named after a style with that style in "one style per mask". */
async function assertMasksSent(forms: FormData[], perMask: Result) {
  const [catalogue, layerStyle] = forms;
  const [selection] = await sentMasks(catalogue);
  assert.equal(catalogue.getAll("mask").length, 1);
  assert.deepEqual([selection.width, selection.height], REGION.slice(2));
  assert.equal(maskMismatches(selection, REGION, ellipseSelection), 0, "mask is not the selection");
  assert.deepEqual(layerStyle.getAll("mask"), [], "no selection, no mask");

  assert.equal(perMask.outcome, "done", perMask.message);
  assert.equal(perMask.group, "Restyle: The Starry Night + The Great Wave off Kanagawa");
  const last = forms.at(-1)!;
  assert.deepEqual(last.getAll("style"), ["starry-night", "great-wave"]);
  const [left, right] = await sentMasks(last);
  assert.equal(last.getAll("mask").length, 2);
  const layer = [12, 20, 64, 48]; // the fixture's "plain" layer; no selection: all of it
  const half = (leftHalf: boolean) => (x: number) => (x < 12 + 32) === leftHalf ? 255 : 0;
  assert.deepEqual([left.width, left.height], [64, 48]);
  assert.equal(maskMismatches(left, layer, half(true)), 0, "starry-night's mask");
  assert.equal(maskMismatches(right, layer, half(false)), 0, "great-wave's mask");
}

const AS_ROOT = "the Krita tests install Krita and use a chroot: run them as root (CI does)";

async function restylesInKrita(krita: KritaHost, masks: boolean) {
  assert.equal(Deno.uid(), 0, AS_ROOT);
  await krita.ready();
  const server = await startServeCli();
  // The plug-in talks to the server through a recording proxy, so the test sees what it sent.
  const proxy = startRecordingProxy(server.url);
  try {
    const { result, log } = await runKrita(krita, "run", proxy.url);
    assert.doesNotMatch(log, /Traceback/);
    assert.match(result.kritaVersion!, masks ? /^5\.([2-9]|\d\d)/ : /^5\.1\./);

    assertCatalogueRun(result.catalogue, masks);
    await assertMasksSent(await proxy.jobForms(), result.perMask);

    // Another open layer as the style, no selection: the whole layer, no mask.
    const layerStyle: RunFacts = result.layerStyle;
    assertPreviewGroup(layerStyle, "composition", 1);
    assert.deepEqual(layerStyle.region, layerStyle.sourceBounds);
    assert.deepEqual(layerStyle.previews![0].children, []);
    assert.equal(layerStyle.previews![0].alphaMismatches, 0);
    // A style image file: its own group, directly above the source again.
    const fileStyle: RunFacts = result.fileStyle;
    assertPreviewGroup(fileStyle, "composition-vii", 1);
    assert.deepEqual(fileStyle.topLevel, [
      "Background",
      "cat",
      "Restyle: composition-vii",
      "Restyle: composition",
    ]);

    // A group layer is refused with a message, before anything is sent.
    assert.equal(result.groupLayer.outcome, "failed");
    assert.match(result.groupLayer.message, /works on a paint layer.*'a group' is a grouplayer/);

    // The docker reads its style list from the server and restyles on Start.
    const docker: DockerFacts = result.docker;
    const served = await (await fetch(`${server.url}/v1/styles`)).json();
    assert.ok(docker.stylesLoaded, "the docker never got the style list");
    assert.equal(docker.stylesError, "");
    assert.deepEqual(
      docker.styles.slice(0, -2).map(([id]) => id),
      served.styles.map((s: { id: string }) => s.id),
    );
    const starry = served.styles.find((s: { id: string }) => s.id === "starry-night");
    assert.deepEqual(docker.styles[0], ["starry-night", `${starry.title} — ${starry.artist}`]);
    assert.ok(docker.running && docker.cancelEnabled, "Start did not start a run");
    assert.ok(docker.finished, "the docker's run never finished");
    assert.equal(docker.status, "Done: 2 preview layer(s) added.");
    assert.equal(docker.progress, 100);
    assert.deepEqual(docker.added, ["Restyle: The Starry Night"]);
    assert.ok(docker.startEnabled);

    // Cancel, once a preview is in: the job stops on the server, the previews stay.
    const cancel = result.cancel;
    assert.ok(
      cancel.started && cancel.previewBeforeCancel && cancel.finished,
      JSON.stringify(cancel),
    );
    assert.equal(cancel.outcome, "cancelled");
    assert.equal(cancel.message, `Cancelled; ${cancel.layers} preview layer(s) kept.`);
    assert.equal(cancel.status, cancel.message);
    assert.ok(cancel.layers >= 1 && cancel.layers < 500, `${cancel.layers} layers`);
    assert.equal(cancel.groupChildren, cancel.layers);
    assert.ok(cancel.startEnabled);
    const job = await (await fetch(`${server.url}/v1/jobs/${cancel.jobId}`)).json();
    assert.equal(job.status, "cancelled");
    assert.ok(job.iteration < 500, `the job ran to iteration ${job.iteration}`);
  } finally {
    await proxy.close();
    await server.close();
  }
}

async function serverDownInKrita(krita: KritaHost) {
  assert.equal(Deno.uid(), 0, AS_ROOT);
  await krita.ready();
  const url = `http://127.0.0.1:${closedPort()}`;
  const { result, log } = await runKrita(krita, "unreachable", url);
  assert.doesNotMatch(log, /Traceback/);
  const { direct, docker } = result;
  // The entry point, with the URL from $RESTYLE_URL: a message, no layers.
  assert.equal(direct.outcome, "failed");
  assert.equal(DOWN_MESSAGE.exec(direct.message)?.[1], url);
  assert.deepEqual(direct.topLevel, ["Background", "cat"]);
  // The docker: the style list falls back to the built-in one and says why; Start says it too.
  assert.equal(DOWN_MESSAGE.exec(docker.stylesError)?.[1], url);
  assert.equal(docker.statusAfterLoad, docker.stylesError);
  assert.ok(docker.styles.some(([id]: string[]) => id === "starry-night"));
  assert.ok(docker.finished);
  assert.equal(DOWN_MESSAGE.exec(docker.status)?.[1], url);
  assert.deepEqual(docker.added, []);
  assert.ok(docker.startEnabled);
}

for (const [krita, masks] of [[debian12, false], [debian13, true]] as const) {
  Deno.test({
    name: `${krita.label}: the Restyle docker and entry point send the selection as the ` +
      "style's mask (or named selection masks with their styles), and add one layer per " +
      "preview in a group above the source, at its position and size, masked by the selection",
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => restylesInKrita(krita, masks),
  });
  Deno.test({
    name: `${krita.label}: with no server running, the message says how to start it, no traceback`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () => serverDownInKrita(krita),
  });
}

Deno.test({
  name: "Krita 5.1 (Debian 12): against a server started with --generate-token, the plug-in " +
    "sends $RESTYLE_TOKEN, else the token file install-krita recorded, and a wrong token gets " +
    "a message that says where to set it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.equal(Deno.uid(), 0, AS_ROOT);
    await debian12.ready();
    const data = await Deno.makeTempDir({ prefix: "restyle-krita-data-" });
    const server = await startServeCli(["--generate-token"], { RESTYLE_DATA: data });
    try {
      const token = (await Deno.readTextFile(`${data}/token`)).trim();
      const { result, log } = await runKrita(
        debian12,
        "token",
        server.url,
        { RESTYLE_TOKEN: token },
        `${data}/token`,
      );
      assert.doesNotMatch(log, /Traceback/);
      assert.equal(result.envToken.outcome, "done", result.envToken.message);
      assert.equal(result.fileToken.outcome, "done", result.fileToken.message);
      assert.equal(result.wrongToken.outcome, "failed");
      assert.match(
        result.wrongToken.message,
        /answered 401: .*set the token in the Restyle docker's Server section, or RESTYLE_TOKEN; the server's --generate-token keeps it in \/.*\/token\)$/,
      );
    } finally {
      await server.close();
      await Deno.remove(data, { recursive: true });
    }
  },
});

interface GuiFacts {
  version: string;
  actionRegistered: boolean;
  dockers: number;
  shownByAction: boolean;
  activeLayer: string;
  stylesError: string;
  runningAfterClick: boolean;
  status: string;
  ticksWhileRunning: number;
  topLevel: string[];
  previews: [string, number[]][];
  activeBeforeRemove: string;
  removeAction: [string, string];
  deleteButton: string;
  removed: RunRemoved;
  restoredByUndo: [string, string[]][];
  probeError?: string;
}

Deno.test({
  name: "Krita 5.1 (Debian 12), the whole program under xvfb-run: loads the plug-in that " +
    "install-krita installed and enabled, the docker's Start restyles the active layer " +
    "while Krita keeps running, and deleting the run's group takes the run back in one action",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.equal(Deno.uid(), 0, AS_ROOT);
    await debian12.ready();
    const xvfb = await run("sh", ["-c", "command -v xvfb-run"]);
    assert.equal(xvfb.code, 0, "xvfb-run is missing: apt-get install xvfb xauth");
    const server = await startServeCli();
    const home = await Deno.makeTempDir({ prefix: "restyle-krita-gui-" });
    try {
      const resources = `${home}/.local/share/krita`;
      const kritarc = `${home}/.config/kritarc`;
      await installKritaPlugin(resources, kritarc);
      // The probe: a second plug-in that acts as the user (see its header).
      const probe = "krita_gui_probe";
      await Deno.mkdir(`${resources}/pykrita/${probe}`);
      await Deno.copyFile(
        repoPath(`tests/fixtures/${probe}/__init__.py`),
        `${resources}/pykrita/${probe}/__init__.py`,
      );
      await Deno.copyFile(
        repoPath(`tests/fixtures/${probe}.desktop`),
        `${resources}/pykrita/${probe}.desktop`,
      );
      await Deno.writeTextFile(kritarc, enablePlugin(await Deno.readTextFile(kritarc), probe));
      const result = `${home}/result.json`;
      const { code, text: log } = await run("timeout", [
        "300",
        "xvfb-run",
        "-a",
        "krita",
        "--nosplash",
      ], {
        HOME: home,
        PATH: "/usr/bin:/bin",
        LANG: "C.UTF-8",
        XDG_RUNTIME_DIR: home,
        PYTHONUNBUFFERED: "1",
        PROBE_RESULT: result,
        PROBE_URL: server.url,
        PROBE_CONTENT: `${MIRROR}/images/cat.png`,
      });
      let facts: GuiFacts;
      try {
        facts = JSON.parse(await Deno.readTextFile(result));
      } catch {
        throw new Error(`Krita exited ${code} and the probe wrote nothing:\n${log}`);
      }
      assert.equal(facts.probeError, undefined, `the probe failed:\n${facts.probeError}`);
      assert.doesNotMatch(log, /Traceback/);
      assert.match(facts.version, /^5\.1\./);
      // Krita loaded the installed plug-in: its docker and its Tools > Scripts action.
      assert.equal(facts.dockers, 1);
      assert.ok(facts.actionRegistered && facts.shownByAction, "Tools > Scripts > Restyle");
      assert.equal(facts.stylesError, "");
      // Start used the active layer, returned at once, and Krita's event loop kept running.
      assert.equal(facts.activeLayer, "cat");
      assert.ok(facts.runningAfterClick, "Start blocked until the job ended");
      assert.ok(facts.ticksWhileRunning > 0, "Krita's event loop stood still during the job");
      assert.equal(facts.status, "Done: 2 preview layer(s) added.");
      assert.deepEqual(facts.topLevel, ["Background", "cat", "Restyle: The Starry Night"]);
      // The layer (64x48 at 30,20) cut to the selection (40x30 at 40,30), oldest at the bottom.
      assert.deepEqual(facts.previews, [
        ["The Starry Night — iteration 1", [40, 30, 40, 30]],
        ["The Starry Night — iteration 2", [40, 30, 40, 30]],
      ]);
      // Taking the run back is one action, as plugin/README.md says: its group clicked in the
      // Layers docker, then the docker's delete button (Remove Layer, Shift+Delete). One Undo
      // brings it all back.
      assert.equal(facts.activeBeforeRemove, "Restyle: The Starry Night");
      assert.equal(facts.deleteButton, "Delete the layer or mask");
      assert.deepEqual(facts.removeAction, ["Remove Layer", "Shift+Del"]);
      assertRunRemoved(facts.removed);
      assert.deepEqual(facts.restoredByUndo, [
        ["Restyle: The Starry Night", facts.previews.map(([name]) => name)],
      ]);
    } finally {
      await server.close();
      await Deno.remove(home, { recursive: true });
    }
  },
});

Deno.test("install-krita: enables the plug-in in kritarc's [python] group, keeping the rest", () => {
  assert.equal(enablePlugin(""), "[python]\nenable_restyle=true\n");
  assert.equal(
    enablePlugin("[General]\nfoo=1\n"),
    "[General]\nfoo=1\n\n[python]\nenable_restyle=true\n",
  );
  assert.equal(
    enablePlugin("[python]\nenable_restyle=false\nenable_scripter=true\n\n[Other]\nx=y\n"),
    "[python]\nenable_restyle=true\nenable_scripter=true\n\n[Other]\nx=y\n",
  );
  assert.equal(
    enablePlugin("[python]\nenable_restyle=true\n", "probe"),
    "[python]\nenable_probe=true\nenable_restyle=true\n",
  );
  // An enable_restyle in another group is not the plug-in switch: left alone.
  assert.equal(
    enablePlugin("[x]\nenable_restyle=false\n[python]\n"),
    "[x]\nenable_restyle=false\n[python]\nenable_restyle=true\n",
  );
});

Deno.test("install-krita: Krita 5's resource folder and kritarc on Linux, macOS and Windows", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(kritaResourceDir(env({ HOME: "/h" }), "linux"), "/h/.local/share/krita");
  assert.equal(kritaResourceDir(env({ HOME: "/h", XDG_DATA_HOME: "/d" }), "linux"), "/d/krita");
  assert.equal(
    kritaResourceDir(env({ HOME: "/Users/a" }), "darwin"),
    "/Users/a/Library/Application Support/krita",
  );
  assert.equal(
    kritaResourceDir(env({ APPDATA: "C:\\Users\\a\\AppData\\Roaming" }), "windows"),
    "C:\\Users\\a\\AppData\\Roaming\\krita",
  );
  assert.equal(kritarcPath(env({ HOME: "/h" }), "linux"), "/h/.config/kritarc");
  assert.equal(kritarcPath(env({ HOME: "/h", XDG_CONFIG_HOME: "/c" }), "linux"), "/c/kritarc");
  assert.equal(
    kritarcPath(env({ HOME: "/Users/a" }), "darwin"),
    "/Users/a/Library/Preferences/kritarc",
  );
  assert.equal(
    kritarcPath(env({ LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" }), "windows"),
    "C:\\Users\\a\\AppData\\Local\\kritarc",
  );
  assert.throws(
    () => kritaResourceDir(env({}), "windows"),
    /APPDATA is not set: pass --resource-dir/,
  );
});
