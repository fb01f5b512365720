/**
 * What `deno task install-gimp` and `deno task install-krita` put on disk: each plug-in with
 * the one HTTP client both share (`plugin/common/restyle_client.py`) beside it, told where
 * this Restyle folder keeps the token `deno task serve --generate-token` writes. (The
 * GIMP and Krita tests run the installed plug-ins; this needs neither program.)
 */
import assert from "node:assert/strict";
import { installGimpPlugin } from "../plugin/gimp/install.ts";
import { installKritaPlugin } from "../plugin/krita/install.ts";
import { defaultTokenFile } from "../src/config.ts";

const client = await Deno.readTextFile(
  new URL("../plugin/common/restyle_client.py", import.meta.url),
);

Deno.test("install-gimp and install-krita copy the shared client beside each plug-in, with this folder's token file", async () => {
  const home = await Deno.makeTempDir({ prefix: "restyle-install-" });
  try {
    const gimp = await installGimpPlugin(`${home}/gimp`);
    const krita = await installKritaPlugin(`${home}/krita`, null);
    for (const folder of [gimp.replace(/\/restyle\.py$/, ""), krita.package]) {
      assert.equal(await Deno.readTextFile(`${folder}/restyle_client.py`), client);
      const recorded = JSON.parse(await Deno.readTextFile(`${folder}/install.json`));
      assert.deepEqual(recorded, { tokenFile: defaultTokenFile() });
    }
    // Krita's package no longer carries a client of its own.
    await assert.rejects(Deno.stat(`${krita.package}/client.py`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("an installer told another token file records that one (a Restyle folder elsewhere, a chroot)", async () => {
  const home = await Deno.makeTempDir({ prefix: "restyle-install-" });
  try {
    await installGimpPlugin(`${home}/gimp`, "/srv/restyle/data/token");
    const recorded = await Deno.readTextFile(`${home}/gimp/plug-ins/restyle/install.json`);
    assert.deepEqual(JSON.parse(recorded), { tokenFile: "/srv/restyle/data/token" });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
