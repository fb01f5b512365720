/// <reference lib="dom" />
/**
 * The API docs page at `/docs` in headless Chromium (Debian's `chromium`,
 * driven by playwright-core) against a real server, with every request to
 * another origin refused: Swagger UI must come from the server itself.
 */
import assert from "node:assert/strict";
import { launchChromium } from "./_chromium.ts";
import { testServer } from "./_server.ts";

Deno.test("the docs page renders every operation offline, from the server's own Swagger UI files", async () => {
  const server = await testServer();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    const origin = new URL(server.url).origin;
    const elsewhere: string[] = [];
    await page.route("**/*", (route) => {
      const url = route.request().url();
      if (new URL(url).origin === origin || url.startsWith("data:")) return route.continue();
      elsewhere.push(url);
      return route.abort();
    });

    await page.goto(`${server.url}/docs`);
    await page.waitForSelector(".opblock", { timeout: 10_000 }).catch((error) => {
      throw new Error(`no operation rendered (requests to other origins: ${elsewhere}): ${error}`);
    });
    const operations = await page.$$eval(
      ".opblock .opblock-summary-path",
      (paths) =>
        paths.map((p) =>
          `${
            p.closest(".opblock")?.className.match(/opblock-(get|post|delete)/)?.[1]
          } ${p.textContent?.trim()}`
        ),
    );
    assert.ok(operations.includes("post /v1/jobs"), operations.join(", "));
    assert.ok(operations.includes("get /v1/health"), operations.join(", "));
    assert.ok(operations.includes("get /v1/jobs"), operations.join(", "));
    assert.equal(operations.length, 13);
    // The style sheet applied too: a POST operation gets Swagger UI's green border.
    const border = await page.$eval(".opblock-post", (el) => getComputedStyle(el).borderColor);
    assert.equal(border, "rgb(73, 204, 144)");

    await page.screenshot({ path: `${server.dir}/docs.png` });
    const shot = Deno.env.get("RESTYLE_SCREENSHOT");
    if (shot) await Deno.copyFile(`${server.dir}/docs.png`, shot);
    assert.deepEqual(elsewhere, []);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    await server.shutdown();
  }
});
