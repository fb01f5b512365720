/**
 * The Photopea plug-in page, end to end: headless Chromium loads a harness page
 * (its own loopback origin) that plays Photopea's side of the plug-in protocol,
 * with the plug-in page from the real `deno task serve` in an iframe; the page
 * exports the active layer and the selection, runs a real SqueezeNet job with the
 * selection as the style's mask and adds each preview, masked by it, as a layer.
 */
import assert from "node:assert/strict";
import { decode, Image } from "imagescript";
import type { Frame, Page } from "playwright-core";
import { launchChromium } from "./_chromium.ts";
import { repoPath } from "../src/config.ts";
import { startServeCli } from "./fixtures/serve_cli.ts";
import { startRecordingProxy } from "./fixtures/recording_proxy.ts";

const MIRROR = Deno.env.get("RESTYLE_MIRROR");
// Geometry of the harness document (tests/fixtures/photopea_harness.html).
const DOC = { w: 128, h: 96 };
const CAT = { x: 24, y: 16, w: 80, h: 60 };
// The harness document's selection, inside the cat.
const SELECTION = { x: 40, y: 24, w: 48, h: 40 };

interface HarnessState {
  scripts: number;
  done: number;
  errors: string[];
  exports: { visible: string[]; png: string }[];
  opens: { as: unknown; asLayer: unknown; width: number; height: number; url: string }[];
  catPng: string;
  initialVisibility: [string, boolean][];
  visibilityNow: [string, boolean][];
}

function harnessState(page: Page): Promise<HarnessState> {
  return page.evaluate(() => {
    // deno-lint-ignore no-explicit-any
    const h = (globalThis as any).harness;
    return { ...h, visibility: undefined, visibilityNow: h.visibility() };
  });
}

/** Waits until the panel's status line says `done` (or an error) and returns it. */
async function statusWhenDone(frame: Frame, done: string): Promise<string | null> {
  await frame.waitForFunction(
    `document.querySelector("#status").textContent === ${JSON.stringify(done)} ||
      document.querySelector("#status").classList.contains("error")`,
    null,
    { timeout: 180_000 },
  );
  return await frame.textContent("#status");
}

/** Serves the harness page and the cat photo on a loopback port of its own. */
function serveHarness(): { origin: string; close: () => Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/") {
      const html = await Deno.readFile(repoPath("tests/fixtures/photopea_harness.html"));
      return new Response(html, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (path === "/cat.png") {
      return new Response(await Deno.readFile(`${MIRROR}/images/cat.png`), {
        headers: { "content-type": "image/png" },
      });
    }
    return new Response("not found", { status: 404 });
  });
  return { origin: `http://127.0.0.1:${server.addr.port}`, close: () => server.shutdown() };
}

async function png(base64OrDataUrl: string): Promise<Image> {
  const image = await decode(pngBytes(base64OrDataUrl));
  assert.ok(image instanceof Image);
  return image;
}

function insideCat(x: number, y: number): boolean {
  return x >= CAT.x && x < CAT.x + CAT.w && y >= CAT.y && y < CAT.y + CAT.h;
}

function selected(x: number, y: number): boolean {
  const { x: sx, y: sy, w, h } = SELECTION;
  return x >= sx && x < sx + w && y >= sy && y < sy + h;
}

/** Largest channel difference per pixel, counted where `where(x, y)` holds. */
function differingPixels(a: Image, b: Image, where: (x: number, y: number) => boolean): number {
  let count = 0;
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (!where(x, y)) continue;
      const p = Image.colorToRGBA(a.getPixelAt(x + 1, y + 1));
      const q = Image.colorToRGBA(b.getPixelAt(x + 1, y + 1));
      if (Math.max(...p.map((v, i) => Math.abs(v - q[i]))) > 0) count++;
    }
  }
  return count;
}

function pngBytes(base64OrDataUrl: string): Uint8Array {
  const base64 = base64OrDataUrl.replace(/^data:image\/png;base64,/, "");
  return Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
}

function minAlpha(image: Image, where: (x: number, y: number) => boolean): number {
  let min = 255;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (where(x, y)) min = Math.min(min, image.getPixelAt(x + 1, y + 1) & 0xff);
    }
  }
  return min;
}

function maxAlpha(image: Image, where: (x: number, y: number) => boolean): number {
  let max = 0;
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < image.width; x++) {
      if (where(x, y)) max = Math.max(max, image.getPixelAt(x + 1, y + 1) & 0xff);
    }
  }
  return max;
}

Deno.test({
  name: "Photopea: the plug-in exports only the active layer and the selection, runs a job on " +
    "its own server with the selection as the style's mask, and adds one layer per preview, " +
    'masked by the selection, answering every script\'s "done"; "mask the result" sends no mask',
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(MIRROR, "RESTYLE_MIRROR must name the mirror (it holds images/cat.png)");
    const harness = serveHarness();
    const server = await startServeCli(["--allow-origin", harness.origin]);
    // The plug-in is loaded through a recording proxy, so the test sees what it posts.
    const proxy = startRecordingProxy(server.url);
    const browser = await launchChromium();
    try {
      const page = browser.pages()[0] ?? await browser.newPage();
      const pluginUrl = `${proxy.url}/plugin/photopea/`;
      const { x, y, w, h } = SELECTION;
      await page.goto(
        `${harness.origin}/?plugin=${encodeURIComponent(pluginUrl)}&selection=${x},${y},${w},${h}`,
      );
      const frame = await (await page.waitForSelector("#plugin")).contentFrame();
      assert.ok(frame);
      await frame.waitForURL(pluginUrl);
      // (browser-side expressions are strings: this file is type-checked without the DOM)
      await frame.waitForFunction(
        `document.querySelector("#style option[value='starry-night']") !== null`,
        null,
        { timeout: 60_000 },
      );
      await frame.selectOption("#style", "starry-night");
      await frame.fill("#iterations", "4");
      await frame.fill("#previewEvery", "2");
      await frame.fill("#maxSize", "64");
      await frame.fill("#maxDetailSize", "64"); // one stage, upscaled: detail stages cost more
      await frame.fill("#strength", "80");
      assert.equal(await frame.inputValue("#selection"), "paint-inside", "the default");
      await frame.click("#run");
      const status = await statusWhenDone(frame, "Done: 2 preview layer(s) added.");
      assert.equal(status, "Done: 2 preview layer(s) added.");
      // Strength goes to the server as it is (50 = the network's tuned balance), not as
      // an absolute style weight that ignores the preset.
      const [options] = await proxy.jobOptions();
      assert.equal(options.strength, 80);
      assert.equal(options.maxDetailSize, 64);
      assert.equal(options.styleWeight, undefined);

      const state = await harnessState(page);
      assert.deepEqual(state.errors, []);
      // The layer (hide others, saveToOE, restore), the selection (a layer holding it shown
      // alone, saveToOE, that layer removed and the rest restored), then one app.open per
      // preview; each answered "done".
      assert.equal(state.scripts, 8);
      assert.equal(state.done, state.scripts);

      // Only the active layer was visible when Photopea exported it, then only the layer
      // holding the selection; that layer is gone and the visibility of every layer (a
      // hidden one, a group) is back as it was.
      assert.equal(state.exports.length, 2);
      assert.deepEqual(state.exports[0].visible, ["cat"]);
      assert.deepEqual(state.exports[1].visible, ["Restyle selection"]);
      assert.ok(!state.visibilityNow.some(([name]) => name === "Restyle selection"));
      const original = new Set(state.initialVisibility.map(([name]) => name));
      assert.deepEqual(
        state.visibilityNow.filter(([name]) => original.has(name)),
        state.initialVisibility,
      );
      assert.deepEqual(state.initialVisibility, [
        ["note", false],
        ["border", true],
        ["cat", true],
        ["background", true],
      ]);
      const exported = await png(state.exports[0].png);
      const cat = await png(state.catPng);
      assert.deepEqual([exported.width, exported.height], [DOC.w, DOC.h]);
      assert.equal(differingPixels(exported, cat, () => true), 0, "export is not the cat alone");
      assert.equal(maxAlpha(exported, (x, y) => !insideCat(x, y)), 0);

      // The selection went with the job as the style's mask: white where selected,
      // transparent elsewhere (its alpha is the mask), at the document's size.
      const [form] = await proxy.jobForms();
      const sent = form.getAll("mask");
      assert.equal(sent.length, 1);
      const maskBytes = new Uint8Array(await (sent[0] as File).arrayBuffer());
      assert.deepEqual(maskBytes, pngBytes(state.exports[1].png));
      const mask = await png(state.exports[1].png);
      assert.deepEqual([mask.width, mask.height], [DOC.w, DOC.h]);
      assert.equal(maxAlpha(mask, (x, y) => !selected(x, y)), 0, "mask outside the selection");
      assert.equal(minAlpha(mask, selected), 255, "mask inside the selection");

      // One new layer per preview, document-sized, shown only inside the selection (within
      // the layer's alpha), stylized there.
      assert.equal(state.opens.length, 2);
      const previews = [];
      for (const open of state.opens) {
        assert.equal(open.asLayer, true);
        assert.equal(open.as, null);
        assert.match(open.url, /^data:image\/png;base64,/);
        assert.deepEqual([open.width, open.height], [DOC.w, DOC.h]);
        const preview = await png(open.url);
        assert.equal(maxAlpha(preview, (x, y) => !selected(x, y)), 0, "not masked");
        assert.equal(minAlpha(preview, selected), 255, "the selected part is hidden");
        assert.ok(differingPixels(preview, cat, selected) > (SELECTION.w * SELECTION.h) / 2);
        previews.push(preview);
      }
      assert.ok(differingPixels(previews[0], previews[1], selected) > 0, "previews identical");

      // "Mask the result": the whole layer is restyled (no mask is sent); the selection
      // still masks the preview.
      await frame.selectOption("#selection", "mask-result");
      await frame.fill("#iterations", "2");
      await frame.click("#run");
      assert.equal(
        await statusWhenDone(frame, "Done: 1 preview layer(s) added."),
        "Done: 1 preview layer(s) added.",
      );
      const [, second] = await proxy.jobForms();
      assert.deepEqual(second.getAll("mask"), []);
      const after = await harnessState(page);
      assert.deepEqual(after.errors, []);
      assert.equal(after.opens.length, 3);
      const masked = await png(after.opens[2].url);
      assert.equal(maxAlpha(masked, (x, y) => !selected(x, y)), 0, "not masked");
    } finally {
      await proxy.close();
      await browser.close();
      await server.close();
      await harness.close();
    }
  },
});
