/**
 * @module The stylize options as command-line flags, made from the options table.
 *
 * One flag per option, named the kebab-case of the API's name (`maxSize` ->
 * `--max-size`); its help line is the option's description and default. Values
 * are read by the option's kind (numbers, `a,b` lists, `layer=weight` pairs, a
 * bare `--preserve-colors` for `true`) and then validated once by the schema.
 */
import type { ParseArgsConfig } from "node:util";
import type { ZodError } from "zod";
import {
  kebabCase,
  OPTION_FIELDS,
  type OptionField,
  RENAMED_OPTIONS,
} from "../engine/option_fields.ts";
import {
  type StylizeOptions,
  type StylizeOptionsInput,
  stylizeOptionsSchema,
} from "../engine/options.ts";

/** A bad command line: the message is shown with a pointer to --help, exit code 2. */
export class UsageError extends Error {}

const asFlag = (name: string) => `--${kebabCase(name)}`;

/**
 * Old flag -> what it now is; still read, with a warning. Besides the CLI's own old flags,
 * every option the table renamed (`--max-output` -> `--max-detail-size`).
 */
export const DEPRECATED_FLAGS: Record<string, string[]> = {
  "--every": ["--preview-every"],
  "--size": ["--max-size"],
  "--match-colors": ["--preserve-colors", "match"],
  ...Object.fromEntries(
    Object.entries(RENAMED_OPTIONS).map(([old, now]) => [asFlag(old), [asFlag(now)]]),
  ),
};

/** `parseArgs` options of every option flag (all take text; the kinds are read after). */
export function optionFlags(): NonNullable<ParseArgsConfig["options"]> {
  return Object.fromEntries(OPTION_FIELDS.map((field) => [field.flag, { type: "string" }]));
}

/**
 * `args` with deprecated flags replaced (each reported through `warn`), and a bare
 * switch flag (`--preserve-colors` not followed by one of its values) given `true`.
 */
export function normalizeArgs(args: string[], warn: (message: string) => void): string[] {
  const out: string[] = [];
  const switches = new Map(
    OPTION_FIELDS.filter((f) => f.kind === "switch").map((f) => [`--${f.flag}`, f]),
  );
  for (let i = 0; i < args.length; i++) {
    const [flag, inline] = args[i].split(/=(.*)/s, 2);
    const replacement = DEPRECATED_FLAGS[flag];
    if (replacement) {
      warn(`${flag} is deprecated: use ${replacement.join(" ")}`);
      out.push(...replacement, ...(inline !== undefined ? [inline] : []));
    } else out.push(args[i]);
    const field = switches.get(out.at(-1)!);
    if (field && inline === undefined) {
      const next = args[i + 1];
      if (next === undefined || !["true", "false", ...field.choices!].includes(next)) {
        out.push("true");
      }
    }
  }
  return out;
}

function number(flag: string, text: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) {
    throw new UsageError(`--${flag}: "${text}" is not a number`);
  }
  return value;
}

function readValue(field: OptionField, text: string): unknown {
  switch (field.kind) {
    case "integer":
    case "number":
      return number(field.flag, text);
    case "numbers":
      return text.split(",").map((part) => number(field.flag, part));
    case "switch":
      return text === "true" ? true : text === "false" ? false : text;
    case "layers":
      return Object.fromEntries(
        text.split(",").map((pair) => {
          const [layer, weight] = pair.split("=");
          if (!layer || weight === undefined) {
            throw new UsageError(`--${field.flag}: "${pair}" is not layer=weight`);
          }
          return [layer.trim(), number(field.flag, weight)];
        }),
      );
    default:
      return text;
  }
}

/** The options the parsed flag `values` set (text as `parseArgs` gives it), not yet validated. */
export function readOptionFlags(values: Record<string, unknown>): StylizeOptionsInput {
  const options: Record<string, unknown> = {};
  for (const field of OPTION_FIELDS) {
    const text = values[field.flag];
    if (typeof text === "string") options[field.name] = readValue(field, text);
  }
  return options as StylizeOptionsInput;
}

/** The flag of an option's path (`["options", "maxSize"]` or `["maxSize"]`), else the path. */
function flagOf(path: PropertyKey[]): string {
  const [first, ...rest] = path.map(String);
  const name = first === "options" ? rest[0] : first;
  const field = OPTION_FIELDS.find((f) => f.name === name);
  return field ? `--${field.flag}` : path.map(String).join(".");
}

/** A ZodError from the schema or the engine's guards, as flags: `--max-size: Too big…`. */
export function describeOptionError(error: ZodError): string {
  return error.issues.map((issue) => `${flagOf(issue.path)}: ${issue.message}`).join("; ");
}

/** Validates `options` once (the schema's defaults applied); a UsageError naming the flags. */
export function parseOptions(options: StylizeOptionsInput): StylizeOptions {
  const parsed = stylizeOptionsSchema.safeParse(options);
  if (!parsed.success) throw new UsageError(describeOptionError(parsed.error));
  return parsed.data;
}

function placeholder(field: OptionField): string {
  switch (field.kind) {
    case "integer":
      return "<n>";
    case "number":
      return "<x>";
    case "numbers":
      return "<a,b,...>";
    case "layers":
      return "<layer=w,...>";
    case "choice":
      return `<${field.choices!.join("|")}>`;
    case "switch":
      return `[${field.choices!.join("|")}]`;
    default:
      return "<text>";
  }
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

/** Help lines `  --flag <value>   description (default x)`, wrapped to `width` columns. */
export function helpLines(
  entries: { flag: string; description: string }[],
  width = 100,
): string {
  const column = Math.max(...entries.map((e) => e.flag.length)) + 4;
  return entries.map(({ flag, description }) => {
    const [first = "", ...rest] = wrap(description, width - column);
    return [
      `  ${flag.padEnd(column - 2)}${first}`,
      ...rest.map((line) => " ".repeat(column) + line),
    ].join("\n");
  }).join("\n");
}

/** The option flags' help entries, from the table. */
export function optionHelp(): { flag: string; description: string }[] {
  return OPTION_FIELDS.map((field) => ({
    flag: `--${field.flag} ${placeholder(field)}`,
    description: field.description +
      (field.default === undefined ? "" : ` (default ${field.default})`),
  }));
}
