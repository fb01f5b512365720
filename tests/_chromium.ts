/**
 * Debian's Chromium, headless, for the browser tests: the flags a closed
 * network and a root user need, and a fresh profile every time.
 */
import assert from "node:assert/strict";
import { type BrowserContext, chromium } from "playwright-core";

/** The browser binary: `RESTYLE_CHROMIUM`, else Debian's. */
export const CHROMIUM = Deno.env.get("RESTYLE_CHROMIUM") ?? "/usr/bin/chromium";

const FLAGS = [
  "--headless",
  "--no-sandbox", // tests run as root
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  // Without these Chromium keeps dialling Google's hosts, which the network refuses.
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches Chromium with a new empty profile, removed again when the browser closes. */
export async function launchChromium(
  options: { acceptDownloads?: boolean } = {},
): Promise<BrowserContext> {
  const haveChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
  assert.ok(haveChromium, `${CHROMIUM} is missing: apt-get install -y chromium`);
  const profile = await Deno.makeTempDir({ prefix: "restyle-chromium-" });
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    ...options,
  });
  browser.on("close", () => Deno.remove(profile, { recursive: true }).catch(() => {}));
  return browser;
}
