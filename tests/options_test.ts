/**
 * One vocabulary: the CLI, the HTTP API's schema (`/openapi.json`) and the plug-ins
 * list the same options, under the same names (the CLI's flags and GIMP's arguments
 * being the kebab-case of the API's), with the same defaults — all read from the
 * options table in `src/engine/options.ts`.
 */
import assert from "node:assert/strict";
import { OPTION_FIELDS, RENAMED_OPTIONS } from "../src/engine/option_fields.ts";
import { DEFAULT_OPTIONS, stylizeOptionsSchema } from "../src/engine/options.ts";
import { parseCommand, usage } from "../src/cli/stylize.ts";
import { startServer } from "../src/server/serve.ts";
import { StyleStore } from "../src/styles/store.ts";
import {
  builtInStyles,
  PLUGIN_OPTION_FILES,
  pluginFields,
  pluginOptionsJson,
} from "../plugin/options.ts";
import catalogue from "../src/styles/catalogue.json" with { type: "json" };

const repo = new URL("../", import.meta.url);
const names = Object.keys(stylizeOptionsSchema.shape);
/** The options under their current names: the table's entries less the old names it keeps. */
const current = names.filter((name) => !(name in RENAMED_OPTIONS));
const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const base = ["content.png", "--style", "starry-night", "--out", "out.png"];

/** A value each kind of flag takes, as text, and what the option then holds. */
function sample(field: (typeof OPTION_FIELDS)[number]): [string, unknown] {
  switch (field.kind) {
    case "integer":
    case "number":
      return [String(field.minimum ?? 1), field.minimum ?? 1];
    case "numbers":
      return [`${field.minimum},${field.minimum}`, [field.minimum, field.minimum]];
    case "layers":
      return ["conv1=1,fire2=0.5", { conv1: 1, fire2: 0.5 }];
    case "choice":
    case "switch":
      return [field.choices!.at(-1)!, field.choices!.at(-1)];
    default:
      return ["other", "other"];
  }
}

Deno.test("every option is a CLI flag named in kebab-case, with its default in --help", () => {
  assert.deepEqual(OPTION_FIELDS.map((f) => f.name), current);
  const help = usage();
  for (const field of OPTION_FIELDS) {
    assert.equal(field.flag, kebab(field.name));
    const line = help.split("\n").find((l) => l.trimStart().startsWith(`--${field.flag} `));
    assert.ok(line, `--help has no --${field.flag}`);
    const expected = (DEFAULT_OPTIONS as Record<string, unknown>)[field.name];
    if (expected !== undefined) {
      const text = help.slice(help.indexOf(line)).split(/\n {2}--/)[0].replace(/\s+/g, " ");
      assert.ok(text.includes(`(default ${expected})`), `--${field.flag}: ${text}`);
    }
  }
});

Deno.test("each flag sets the option of its name; none given, the options are the schema's defaults", () => {
  assert.deepEqual(parseCommand(base)!.options, DEFAULT_OPTIONS);
  for (const field of OPTION_FIELDS) {
    const [text, value] = sample(field);
    const command = parseCommand([...base, `--${field.flag}`, text]);
    assert.deepEqual(command!.options[field.name], value, `--${field.flag} ${text}`);
  }
});

Deno.test("old flags still work, with a warning; a bare --preserve-colors means true", () => {
  const warnings: string[] = [];
  const warn = (message: string) => warnings.push(message);
  const old = parseCommand([...base, "--every", "3", "--size=64", "--match-colors"], warn)!;
  const now = parseCommand([...base, "--preview-every", "3", "--max-size", "64"], warn)!;
  assert.deepEqual(old.options, { ...now.options, preserveColors: "match" });
  assert.equal(warnings.length, 3);
  assert.match(warnings.join("\n"), /--every is deprecated: use --preview-every/);
  const bare = parseCommand([...base, "--preserve-colors", "--max-size", "64"])!;
  assert.equal(bare.options.preserveColors, true);
  const before = parseCommand(["--preserve-colors", ...base])!;
  assert.equal(before.options.preserveColors, true);
  assert.equal(before.content, "content.png");
});

Deno.test("maxOutput, the old name of maxDetailSize, still sets it (the smaller of both)", () => {
  assert.deepEqual(RENAMED_OPTIONS, { maxOutput: "maxDetailSize" });
  const parse = (options: object) => stylizeOptionsSchema.parse(options);
  assert.deepEqual(parse({ maxOutput: 512 }), { ...DEFAULT_OPTIONS, maxDetailSize: 512 });
  assert.equal(parse({ maxOutput: 512, maxDetailSize: 1024 }).maxDetailSize, 512);
  assert.equal(parse({ maxOutput: 2048, maxDetailSize: 1024 }).maxDetailSize, 1024);
  const bad = stylizeOptionsSchema.safeParse({ maxOutput: 8 });
  assert.deepEqual(bad.error?.issues.map((issue) => issue.path), [["maxOutput"]]);

  const warnings: string[] = [];
  const old = parseCommand([...base, "--max-output", "512"], (m) => warnings.push(m))!;
  assert.equal(old.options.maxDetailSize, 512);
  assert.deepEqual(warnings, ["--max-output is deprecated: use --max-detail-size"]);
  assert.match(usage(), /Deprecated: .*--max-output \(--max-detail-size\)/);
  assert.doesNotMatch(usage(), /^ {2}--max-output /m);
});

Deno.test("--init-image starts from that image; a bad value names its flag", () => {
  const command = parseCommand([...base, "--init-image", "start.png"])!;
  assert.equal(command.initImage, "start.png");
  assert.equal(command.options.init, "image");
  assert.throws(() => parseCommand([...base, "--max-size", "9"]), /--max-size: Too small/);
  assert.throws(() => parseCommand([...base, "--style-layers", "conv1"]), /not layer=weight/);
});

Deno.test("/openapi.json publishes every option with the schema's default", async () => {
  const dir = await Deno.makeTempDir({ prefix: "restyle-options-" });
  const server = await startServer({
    port: 0,
    styles: await StyleStore.open({ dir }),
    run: async function* () {},
  });
  try {
    const doc = await (await fetch(`${server.url}/openapi.json`)).json();
    const options = doc.components.schemas.JobForm.properties.options;
    assert.deepEqual(Object.keys(options.properties), names);
    for (const field of OPTION_FIELDS) {
      assert.deepEqual(options.properties[field.name].default, field.default, field.name);
    }
    for (const [old, now] of Object.entries(RENAMED_OPTIONS)) {
      assert.equal(options.properties[old].deprecated, true, old);
      assert.equal(options.properties[old]["x-replaced-by"], now);
      assert.match(options.properties[old].description, new RegExp(`old name of ${now}`));
    }
  } finally {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the plug-ins' fields.json files are what deno task plugin-options writes", async () => {
  for (const path of PLUGIN_OPTION_FILES) {
    assert.equal(
      await Deno.readTextFile(new URL(path, repo)),
      pluginOptionsJson(),
      `${path} is out of date: run deno task plugin-options`,
    );
  }
  const fields = pluginFields();
  assert.ok(fields.length >= 5, "the plug-ins show the common options");
  for (const field of fields) {
    assert.equal(field.flag, kebab(field.name));
    assert.deepEqual(field.default, (DEFAULT_OPTIONS as Record<string, unknown>)[field.name]);
    for (const choice of field.choices ?? []) {
      const options = { [field.name]: choice.value };
      assert.ok(stylizeOptionsSchema.safeParse(options).success, `${field.name}: ${choice.value}`);
    }
  }
  assert.deepEqual(builtInStyles().map((s) => s.id), catalogue.styles.map((s) => s.id));
});

Deno.test("the plug-ins' code names no option and no built-in style of its own", async () => {
  const sources = [
    "plugin/gimp/restyle/restyle.py",
    "plugin/krita/restyle/settings.py",
    "plugin/krita/restyle/docker.py",
    "plugin/krita/restyle/job.py",
    "plugin/common/restyle_client.py",
    "plugin/photopea/main.js",
    "plugin/photopea/index.html",
  ];
  // `iterations` is read back for the progress bar; every other name comes from fields.json.
  const words = [
    ...names.filter((n) => n !== "iterations").flatMap((n) => [n, kebab(n)]),
    ...catalogue.styles.map((s) => s.id),
  ].filter((word) => word.length > 4); // "init" and "seed" are English words too
  for (const path of sources) {
    const text = await Deno.readTextFile(new URL(path, repo));
    for (const word of words) {
      assert.doesNotMatch(text, new RegExp(`["'#]${word}["']`), `${path} names ${word}`);
    }
  }
});

/** Whether `python3` runs here (the plug-ins' option code is plain Python 3). */
const python = await new Deno.Command("python3", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success, () => false);

Deno.test({
  name:
    "GIMP registers one argument per plug-in option, and GIMP and Krita send the table's defaults",
  ignore: !python,
  async fn() {
    const { stdout, stderr, success } = await new Deno.Command("python3", {
      args: [new URL("fixtures/plugin_fields.py", import.meta.url).pathname, repo.pathname],
      env: { PYTHONDONTWRITEBYTECODE: "1" },
    }).output();
    assert.ok(success, new TextDecoder().decode(stderr));
    const { gimp, krita } = JSON.parse(new TextDecoder().decode(stdout));
    const fields = pluginFields();
    const defaults = Object.fromEntries(
      fields.map((f) => [f.name, (DEFAULT_OPTIONS as Record<string, unknown>)[f.name]]),
    );
    assert.deepEqual(
      gimp.arguments.map((a: { name: string }) => a.name),
      fields.map((f) => f.flag),
    );
    for (const [i, field] of fields.entries()) {
      const argument = gimp.arguments[i];
      if (field.kind === "choice") {
        assert.deepEqual(argument.nicks, field.choices!.map((c) => c.nick));
        assert.equal(argument.default, String(field.default));
      } else {
        assert.deepEqual([argument.minimum, argument.maximum, argument.default], [
          field.minimum,
          field.maximum,
          field.default,
        ]);
      }
    }
    assert.deepEqual(gimp.options, defaults);
    assert.deepEqual(krita.defaults, defaults);
    assert.deepEqual(krita.given, {
      ...defaults,
      previewEvery: 3,
      maxSize: 64,
      preserveColors: "match",
    });
    assert.match(krita.unknown, /unknown option no_such_option; options are: network, /);
    assert.deepEqual(krita.styles, catalogue.styles.map((s) => s.id));
  },
});
