/// <reference lib="dom" />
/**
 * The web page at `/` in headless Chromium (Debian's `chromium`, driven by
 * playwright-core) against a real server: pick an image and a style, run a
 * real SqueezeNet job, watch previews arrive, download the result.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import type { JobRunner, JobSpec } from "../src/server/jobs.ts";
import { launchChromium } from "./_chromium.ts";
import { decodeImage, encodePng, gradientWithAlpha, testServer } from "./_server.ts";

/** Picks `layer` and Great Wave, runs a 6-iteration job at 64 px, waits for the download link. */
async function runSmallJob(page: Page, layer: string): Promise<void> {
  await page.setInputFiles("#content", layer);
  await page.check('#styles input[value="great-wave"]', { force: true });
  await page.fill("#iterations", "6");
  await page.fill("#maxSize", "64");
  await page.fill("#maxDetailSize", "64"); // one stage, upscaled: the detail stages cost more
  await page.fill("#previewEvery", "2");
  await page.selectOption("#network", "squeezenet");
  await page.click("#run");
  await page.waitForFunction(
    () => document.querySelectorAll("#previews img").length >= 2,
    null,
    { timeout: 60_000 },
  );
  await page.waitForSelector("#download:not([hidden])", { timeout: 60_000 });
}

/** The iterations of the preview thumbnails, in the order shown. */
function previewIterations(page: Page): Promise<number[]> {
  return page.$$eval(
    "#previews img",
    (imgs) => imgs.map((img) => Number((img as HTMLImageElement).dataset.iteration)),
  );
}

Deno.test({
  name: "the web page runs a job, shows previews as they arrive and downloads the result",
  async fn() {
    const server = await testServer();
    const work = await Deno.makeTempDir({ prefix: "restyle-browser-" });
    const layer = `${work}/layer.png`;
    await Deno.writeFile(layer, await encodePng(gradientWithAlpha(90, 60)));
    const browser = await launchChromium({ acceptDownloads: true });
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${server.url}/`);
      await page.waitForSelector('#styles input[value="great-wave"]', { state: "attached" });
      await page.waitForFunction(() =>
        (document.getElementById("health")?.textContent ?? "").includes("queue")
      );

      await runSmallJob(page, layer);
      assert.deepEqual(await previewIterations(page), [2, 4, 6]);
      assert.match(await page.textContent("#status") ?? "", /Done: 6 iterations/);

      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.click("#download"),
      ]);
      const saved = `${work}/result.png`;
      await download.saveAs(saved);
      const result = await decodeImage(await Deno.readFile(saved));
      assert.deepEqual([result.width, result.height], [90, 60]);
      assert.equal(result.data[3], 0); // the transparent left third stays transparent
      assert.equal(result.data[(60 * 90 - 1) * 4 + 3], 255);

      await page.screenshot({ path: `${work}/page.png`, fullPage: true });
      if (Deno.env.get("RESTYLE_SCREENSHOT")) {
        await Deno.copyFile(`${work}/page.png`, Deno.env.get("RESTYLE_SCREENSHOT")!);
      }
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "on a server that requires a token, the web page asks for it, then runs a job with it " +
    "and shows its previews",
  async fn() {
    const token = "web-page-token-0123456789";
    const server = await testServer({ token });
    const work = await Deno.makeTempDir({ prefix: "restyle-browser-" });
    const layer = `${work}/layer.png`;
    await Deno.writeFile(layer, await encodePng(gradientWithAlpha(90, 60)));
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${server.url}/`);
      // Without the token the API answers 401: the page shows the token field and says why.
      await page.waitForSelector(".token:not([hidden])");
      assert.match(await page.textContent("#status") ?? "", /needs its token/);

      await page.fill("#token", token);
      await page.dispatchEvent("#token", "change");
      await page.waitForSelector('#styles input[value="great-wave"]', { state: "attached" });
      await runSmallJob(page, layer);
      assert.deepEqual(await previewIterations(page), [2, 4, 6]);
      assert.match(await page.textContent("#status") ?? "", /Done: 6 iterations/);
      // The previews are <img>s, which send no header: the token goes in their address.
      const latest = await page.$eval("#latest", (img) => {
        const { src, naturalWidth } = img as HTMLImageElement;
        return { src, naturalWidth };
      });
      assert.match(latest.src, /access_token=web-page-token/);
      assert.equal(latest.naturalWidth, 90);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
      await Deno.remove(work, { recursive: true });
    }
  },
});

Deno.test({
  name: "the web page sends the mask file it is given with the job",
  async fn() {
    // A runner in place of the engine: the point is what the page sends.
    const specs: JobSpec[] = [];
    const preview = await encodePng(gradientWithAlpha(90, 60));
    const run: JobRunner = async function* (spec) {
      specs.push(spec);
      const losses = { total: 1, content: 0.5, style: 0.5, tv: 0 };
      for (const iteration of [1, 2]) {
        yield { iteration, iterations: 2, losses, elapsedMs: iteration, png: preview };
      }
    };
    const server = await testServer({ run });
    const work = await Deno.makeTempDir({ prefix: "restyle-browser-" });
    const layer = `${work}/layer.png`;
    const mask = `${work}/mask.png`;
    await Deno.writeFile(layer, await encodePng(gradientWithAlpha(90, 60)));
    const maskPng = await encodePng(gradientWithAlpha(45, 30)); // its alpha: the right 2/3
    await Deno.writeFile(mask, maskPng);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (error) => errors.push(error.message));
      await page.goto(`${server.url}/`);
      await page.waitForSelector('#styles input[value="great-wave"]', { state: "attached" });
      await page.setInputFiles("#mask", mask);
      await runSmallJob(page, layer);
      assert.equal(specs.length, 1);
      assert.deepEqual(specs[0].masks, [maskPng]);

      // Without a mask file, none is sent.
      await page.setInputFiles("#mask", []);
      await page.click("#run");
      await page.waitForFunction(() =>
        /^Done/.test(document.getElementById("status")!.textContent!)
      );
      while (specs.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(specs[1].masks, undefined);
      assert.deepEqual(errors, []);
    } finally {
      await browser.close();
      await server.shutdown();
      await Deno.remove(work, { recursive: true });
    }
  },
});
