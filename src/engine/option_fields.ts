/**
 * @module The options table read back as plain fields: name, flag, kind, default, bounds, help.
 *
 * Everything here is derived from {@linkcode stylizeOptionsSchema} through its JSON
 * Schema, so the CLI's flags and help, and the plug-ins' forms, cannot drift from
 * what the HTTP API validates. A field whose schema has a shape no edge knows how
 * to read throws here, at import, naming the field.
 */
import { z } from "zod";
import { type StylizeOptionsInput, stylizeOptionsSchema } from "./options.ts";

/**
 * How a field's value is written as text (a flag's value) or chosen in a form:
 * `integer` / `number`; `choice`, one of `choices`; `switch`, a boolean or one of
 * `choices` (a bare flag means `true`); `numbers`, a comma-separated list;
 * `layers`, `layer=weight` pairs separated by commas.
 */
export type OptionKind = "integer" | "number" | "text" | "choice" | "switch" | "numbers" | "layers";

/** One option, as every edge reads it. */
export interface OptionField {
  /** The API's name (`previewEvery`). */
  name: keyof StylizeOptionsInput;
  /** The CLI flag and plug-in argument name: the kebab-case of `name` (`preview-every`). */
  flag: string;
  /** How the value is written or chosen. */
  kind: OptionKind;
  /** The schema's description. */
  description: string;
  /** The schema's default; absent when the network's preset (or chance) decides. */
  default?: unknown;
  /** Lowest value (numbers, and each entry of `numbers`). */
  minimum?: number;
  /** Highest value (numbers, and each entry of `numbers`). */
  maximum?: number;
  /** Allowed values of `choice` and `switch` fields (`switch` fields also take `true`, `false`). */
  choices?: string[];
  /**
   * Set on fields the plug-ins show: their label, the values they offer with theirs, and
   * the highest number their form offers when the schema sets none.
   */
  plugin?: {
    label: string;
    choices?: { value: string | boolean; label: string }[];
    maximum?: number;
  };
}

/** `previewEvery` -> `preview-every`. */
export function kebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

// The subset of JSON Schema that zod writes for the option types used in the table.
interface JsonSchema {
  type?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema;
  minimum?: number;
  maximum?: number;
  default?: unknown;
  description?: string;
  "x-plugin"?: boolean;
  "x-label"?: string;
  "x-choices"?: Record<string, string>;
  "x-maximum"?: number;
  "x-replaced-by"?: string;
}

function kindOf(name: string, schema: JsonSchema): Pick<OptionField, "kind" | "choices"> & {
  bounds?: JsonSchema;
} {
  const { type } = schema;
  if (type === "integer" || type === "number") return { kind: type, bounds: schema };
  if (type === "string" && schema.enum) return { kind: "choice", choices: schema.enum as string[] };
  if (type === "string") return { kind: "text" };
  if (type === "array" && ["integer", "number"].includes(schema.items?.type ?? "")) {
    return { kind: "numbers", bounds: schema.items };
  }
  if (type === "object" && schema.additionalProperties?.type === "number") {
    return { kind: "layers" };
  }
  const [boolean, choice] = schema.anyOf ?? [];
  if (schema.anyOf?.length === 2 && boolean.type === "boolean" && choice.enum) {
    return { kind: "switch", choices: choice.enum as string[] };
  }
  throw new Error(
    `options.${name}: no CLI flag or plug-in field can be made from its schema ` +
      `(${JSON.stringify(schema)}); give it a kind in src/engine/option_fields.ts`,
  );
}

function pluginOf(name: string, schema: JsonSchema, choices?: string[]): OptionField["plugin"] {
  if (!schema["x-plugin"]) return undefined;
  const labels = schema["x-choices"];
  const maximum = schema["x-maximum"];
  if (!labels) return { label: schema["x-label"]!, ...(maximum !== undefined ? { maximum } : {}) };
  const allowed = ["true", "false", ...choices ?? []];
  return {
    label: schema["x-label"]!,
    choices: Object.entries(labels).map(([value, label]) => {
      if (!allowed.includes(value)) {
        throw new Error(`options.${name}: plug-in choice "${value}" is not a value it takes`);
      }
      return { value: value === "true" ? true : value === "false" ? false : value, label };
    }),
  };
}

function propertiesOf(schema: z.ZodObject): [string, JsonSchema][] {
  const json = z.toJSONSchema(schema, { io: "input" }) as {
    properties: Record<string, JsonSchema>;
  };
  return Object.entries(json.properties);
}

function fieldsOf(schema: z.ZodObject): OptionField[] {
  const current = propertiesOf(schema).filter(([, property]) => !property["x-replaced-by"]);
  return current.map(([name, property]) => {
    const { kind, choices, bounds } = kindOf(name, property);
    const field: OptionField = {
      name: name as OptionField["name"],
      flag: kebabCase(name),
      kind,
      description: property.description ?? "",
    };
    if ("default" in property) field.default = property.default;
    // zod states an integer's safe range as its bounds: that is no bound of the option's own.
    const bound = (n?: number) => n !== undefined && Math.abs(n) !== Number.MAX_SAFE_INTEGER;
    if (bound(bounds?.minimum)) field.minimum = bounds!.minimum;
    if (bound(bounds?.maximum)) field.maximum = bounds!.maximum;
    if (choices) field.choices = choices;
    const plugin = pluginOf(name, property, choices);
    if (plugin) field.plugin = plugin;
    return field;
  });
}

/** Every option of {@linkcode stylizeOptionsSchema}, in the table's order (old names left out). */
export const OPTION_FIELDS: readonly OptionField[] = fieldsOf(stylizeOptionsSchema);

/**
 * Old option names the schema still accepts (marked `renamedTo`), each with the option it
 * now is: `{ maxOutput: "maxDetailSize" }`.
 */
export const RENAMED_OPTIONS: Readonly<Record<string, string>> = Object.fromEntries(
  propertiesOf(stylizeOptionsSchema).flatMap(([name, property]) => {
    const replacement = property["x-replaced-by"];
    if (!replacement) return [];
    if (!OPTION_FIELDS.some((field) => field.name === replacement)) {
      throw new Error(`options.${name}: renamed to "${replacement}", which is no option`);
    }
    return [[name, replacement]];
  }),
);
