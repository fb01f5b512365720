/**
 * The environment is read in one place: `src/config.ts`, and every variable it reads is
 * in the README's settings table.
 */
import assert from "node:assert/strict";

const repo = new URL("../", import.meta.url);

async function* sourceFiles(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sourceFiles(url);
    else if (/\.(ts|mjs|js)$/.test(entry.name)) yield url;
  }
}

Deno.test("only src/config.ts reads the environment", async () => {
  const config = new URL("src/config.ts", repo).href;
  const readers: string[] = [];
  for await (const file of sourceFiles(new URL("src/", repo))) {
    if (file.href === config) continue;
    const text = await Deno.readTextFile(file);
    if (/Deno\.env\b|process\.env\b/.test(text)) readers.push(file.href.slice(repo.href.length));
  }
  assert.deepEqual(readers, []);
});

Deno.test("every variable src/config.ts reads is in the README's settings table", async () => {
  const config = await Deno.readTextFile(new URL("src/config.ts", repo));
  const names = [...config.matchAll(/\benv\("([A-Z_]+)"\)/g)].map((m) => m[1]);
  assert.ok(names.length >= 8, `found only ${names.join(", ")}`);
  const readme = await Deno.readTextFile(new URL("README.md", repo));
  const table = readme.slice(
    readme.indexOf("## Settings"),
    readme.indexOf("\n## ", readme.indexOf("## Settings") + 1),
  );
  for (const name of names) assert.match(table, new RegExp(`\\| \`${name}\` +\\|`), name);
});
