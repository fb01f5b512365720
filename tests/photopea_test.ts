/**
 * The Photopea plug-in page, end to end: headless Chromium loads a harness page
 * (its own loopback origin) that plays Photopea's side of the plug-in protocol,
 * with the plug-in page from the real `deno task serve` in an iframe; the page
 * runs a real SqueezeNet job and adds each preview as a layer.
 */
import assert from "node:assert/strict";
import { decode, Image } from "imagescript";
import { launchChromium } from "./_chromium.ts";
import { repoPath } from "../src/config.ts";
import { startServeCli } from "./fixtures/serve_cli.ts";
import { startRecordingProxy } from "./fixtures/recording_proxy.ts";

const MIRROR = Deno.env.get("RESTYLE_MIRROR");
// Geometry of the harness document (tests/fixtures/photopea_harness.html).
const DOC = { w: 128, h: 96 };
const CAT = { x: 24, y: 16, w: 80, h: 60 };

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
  const base64 = base64OrDataUrl.replace(/^data:image\/png;base64,/, "");
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  const image = await decode(bytes);
  assert.ok(image instanceof Image);
  return image;
}

function insideCat(x: number, y: number): boolean {
  return x >= CAT.x && x < CAT.x + CAT.w && y >= CAT.y && y < CAT.y + CAT.h;
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
  name: "Photopea: the plug-in exports only the active layer, runs a job on its own server " +
    'and adds one layer per preview, answering every script\'s "done"',
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
      await page.goto(`${harness.origin}/?plugin=${encodeURIComponent(pluginUrl)}`);
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
      await frame.click("#run");
      await frame.waitForFunction(
        `/^Done/.test(document.querySelector("#status").textContent) ||
          document.querySelector("#status").classList.contains("error")`,
        null,
        { timeout: 180_000 },
      );
      const status = await frame.textContent("#status");
      assert.equal(status, "Done: 2 preview layer(s) added.");
      // Strength goes to the server as it is (50 = the network's tuned balance), not as
      // an absolute style weight that ignores the preset.
      const [options] = await proxy.jobOptions();
      assert.equal(options.strength, 80);
      assert.equal(options.maxDetailSize, 64);
      assert.equal(options.styleWeight, undefined);

      const state: HarnessState = await page.evaluate(() => {
        // deno-lint-ignore no-explicit-any
        const h = (globalThis as any).harness;
        return { ...h, visibility: undefined, visibilityNow: h.visibility() };
      });
      assert.deepEqual(state.errors, []);
      // hide others, saveToOE, restore, then one app.open per preview; each answered "done".
      assert.equal(state.scripts, 5);
      assert.equal(state.done, state.scripts);

      // Only the active layer was visible when Photopea exported, and the
      // visibility of every layer (a hidden one, a group) is back as it was.
      assert.equal(state.exports.length, 1);
      assert.deepEqual(state.exports[0].visible, ["cat"]);
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

      // One new layer per preview, document-sized, alpha as the layer's, stylized.
      assert.equal(state.opens.length, 2);
      const previews = [];
      for (const open of state.opens) {
        assert.equal(open.asLayer, true);
        assert.equal(open.as, null);
        assert.match(open.url, /^data:image\/png;base64,/);
        assert.deepEqual([open.width, open.height], [DOC.w, DOC.h]);
        const preview = await png(open.url);
        assert.equal(maxAlpha(preview, (x, y) => !insideCat(x, y)), 0, "alpha not re-applied");
        assert.ok(differingPixels(preview, cat, insideCat) > (CAT.w * CAT.h) / 2);
        previews.push(preview);
      }
      assert.ok(differingPixels(previews[0], previews[1], insideCat) > 0, "previews identical");
    } finally {
      await proxy.close();
      await browser.close();
      await server.close();
      await harness.close();
    }
  },
});
