/**
 * `deno doc --lint mod.ts`, less one false alarm of deno 2.9 (denoland/deno#27364):
 * a type from an npm package (tfjs's `Tensor4D`, zod's `input`, Hono's
 * `OpenAPIHono`) used by the public API is reported as a "private type".
 * Those reports pass, as does the inferred type of a zod schema; every other
 * doc-lint error fails — a missing JSDoc, or one of Restyle's own types left
 * out of `mod.ts`.
 */

async function ownTypeNames(dir: string, names = new Set<string>()): Promise<Set<string>> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await ownTypeNames(path, names);
    else if (entry.name.endsWith(".ts")) {
      const text = await Deno.readTextFile(path);
      const declared =
        /export\s+(?:declare\s+)?(?:type|interface|class|enum)\s+([A-Za-z_$][\w$]*)/g;
      for (const m of text.matchAll(declared)) {
        names.add(m[1]);
      }
    }
  }
  return names;
}

const own = await ownTypeNames(new URL("../src", import.meta.url).pathname);
const { stdout, stderr } = await new Deno.Command(Deno.execPath(), {
  args: ["doc", "--lint", new URL("../mod.ts", import.meta.url).pathname],
  env: { NO_COLOR: "1" },
}).output();
const text = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
const errors = text.split(/^(?=error\[)/m).filter((block) => block.startsWith("error["));
const real = errors.filter((block) => {
  const ref = /^error\[private-type-ref\].*references private type '([^']+)'/.exec(block);
  if (ref) return own.has(ref[1]);
  // A zod schema's type is its own inference (the point of zod); spelling it out would
  // restate the schema. Any other inferred export still fails.
  const zodSchema = /^error\[missing-explicit-type\][\s\S]*export const \w+ = z\./.test(block);
  return !zodSchema;
});
for (const block of real) console.error(block.trimEnd());
console.log(
  `doc lint: ${real.length} error(s); ${errors.length - real.length} passed ` +
    "(npm types, deno#27364; zod schema inference)",
);
Deno.exit(real.length > 0 ? 1 : 0);
