/**
 * @module `deno task plugin-options`: writes the plug-ins' form fields from the options table.
 *
 * Each plug-in reads a `fields.json` next to its code: the options marked for the
 * plug-ins in `src/engine/options.ts`, with the API's name, the kebab-case name
 * (GIMP's argument names, the CLI's flags), label, help, kind, bounds, default and
 * choices; and the built-in styles of `src/styles/catalogue.json`, listed while the
 * server cannot be asked for its own. A file, not a request to the server at start:
 * GIMP registers its procedure's arguments and Krita builds its docker when the
 * application starts, usually before any Restyle server runs, and both must work
 * offline; the Photopea page and the server's own web page read their copies like
 * the others. `tests/options_test.ts` fails when a file is not what this writes, so
 * the table stays the only place an option is defined.
 *
 * ```sh
 * deno task plugin-options           # rewrite the files
 * deno task plugin-options --check   # exit 1 when one is out of date
 * ```
 */
import { OPTION_FIELDS } from "../src/engine/option_fields.ts";
import catalogue from "../src/styles/catalogue.json" with { type: "json" };

/** One form field of a plug-in. */
export interface PluginField {
  /** The API's name, sent in the job's `options`. */
  name: string;
  /** Kebab-case of `name`: GIMP's argument name and the CLI's flag. */
  flag: string;
  label: string;
  help: string;
  /** `integer` and `number` have `minimum` and `maximum`; `choice` has `choices`. */
  kind: "integer" | "number" | "choice";
  default: unknown;
  minimum?: number;
  maximum?: number;
  /** Values (what is sent) and their labels; `nick` is the value as text (GIMP's choice nick). */
  choices?: { value: string | boolean; nick: string; label: string }[];
}

/** The plug-ins' fields, from the options table (those it marks with `inPlugins`). */
export function pluginFields(): PluginField[] {
  return OPTION_FIELDS.filter((field) => field.plugin).map((field) => {
    const where = `options.${field.name}`;
    if (field.default === undefined) throw new Error(`${where}: a plug-in field needs a default`);
    const base = {
      name: field.name,
      flag: field.flag,
      label: field.plugin!.label,
      help: field.description,
      default: field.default,
    };
    if (field.kind === "integer" || field.kind === "number") {
      const maximum = field.maximum ?? field.plugin!.maximum;
      if (field.minimum === undefined || maximum === undefined) {
        throw new Error(
          `${where}: a plug-in number field needs a minimum and a maximum (inPlugins' maximum)`,
        );
      }
      return { ...base, kind: field.kind, minimum: field.minimum, maximum };
    }
    const choices = field.plugin!.choices ??
      field.choices?.map((value) => ({ value, label: value }));
    if (!choices || !["choice", "switch"].includes(field.kind)) {
      throw new Error(`${where}: the plug-ins have no form field for a ${field.kind} option`);
    }
    return {
      ...base,
      kind: "choice" as const,
      choices: choices.map((c) => ({ value: c.value, nick: String(c.value), label: c.label })),
    };
  });
}

/** The generated files, relative to the repository root. */
export const PLUGIN_OPTION_FILES: readonly string[] = [
  "plugin/gimp/restyle/fields.json",
  "plugin/krita/restyle/fields.json",
  "plugin/photopea/fields.json",
  "src/server/web/fields.json", // the server's own page reads it too
];

/** The built-in styles, as the plug-ins label them before the server answers. */
export function builtInStyles(): { id: string; title: string; artist: string; year: string }[] {
  return catalogue.styles.map(({ id, title, artist, year }) => ({ id, title, artist, year }));
}

/** The text every generated file holds. */
export function pluginOptionsJson(): string {
  const generated = "by `deno task plugin-options` from src/engine/options.ts and " +
    "src/styles/catalogue.json; do not edit";
  return JSON.stringify({ generated, options: pluginFields(), styles: builtInStyles() }, null, 2) +
    "\n";
}

if (import.meta.main) {
  const root = new URL("../", import.meta.url);
  const check = Deno.args.includes("--check");
  const text = pluginOptionsJson();
  let stale = 0;
  for (const path of PLUGIN_OPTION_FILES) {
    const file = new URL(path, root);
    const old = await Deno.readTextFile(file).catch(() => "");
    if (old === text) continue;
    if (check) {
      console.error(`${path} is out of date: run deno task plugin-options`);
      stale++;
    } else {
      await Deno.writeTextFile(file, text);
      console.log(`wrote ${path}`);
    }
  }
  Deno.exit(stale ? 1 : 0);
}
