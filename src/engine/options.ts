/**
 * @module The stylize options: the one table of every setting, shared by the engine, the CLI,
 * the HTTP API and the plug-ins.
 *
 * Every field is optional; what is left out comes from the network's preset
 * (layers, weights) or from the defaults below. The schema is zod, so the HTTP
 * API validates `options` with it and publishes it in `/openapi.json`; the CLI
 * makes one flag per field (the kebab-case of its name: `previewEvery` ->
 * `--preview-every`) whose help is the field's description and whose default is
 * the schema's ({@link ./option_fields.ts}); fields marked {@linkcode inPlugins}
 * are the plug-ins' form fields, with that label (`deno task plugin-options`
 * writes them out for the plug-ins). Adding an option is one entry here; renaming one keeps
 * the old name as an entry marked {@linkcode renamedTo}, which the schema folds into the new.
 */
import { z } from "zod";

/** Largest `iterations` the schema accepts. */
export const MAX_ITERATIONS = 2000;
/** Largest `maxSize` (longest side, in pixels) the schema accepts. */
export const MAX_SIZE = 2048;
/** Largest `maxDetailSize` (longest side, in pixels, the image is optimised at) the schema accepts. */
export const MAX_DETAIL_SIZE = 16384;

/**
 * Marks an option as a field of the plug-ins' forms, with its `label`; for a choice,
 * `choices` labels the values offered (keys are the values as text: `"false"`,
 * `"match"`); `maximum` bounds a number the schema leaves unbounded. The keys are
 * OpenAPI extensions, so `/openapi.json` carries them too.
 */
export function inPlugins(
  label: string,
  { choices, maximum }: { choices?: Record<string, string>; maximum?: number } = {},
) {
  return {
    "x-plugin": true,
    "x-label": label,
    ...(choices ? { "x-choices": choices } : {}),
    ...(maximum !== undefined ? { "x-maximum": maximum } : {}),
  };
}

/**
 * Marks an option as the old name of `replacement`: still accepted, published as deprecated,
 * and no longer a CLI flag or a plug-in field of its own (the CLI reads the old flag as the
 * new one, with a warning). The keys are OpenAPI's and an extension.
 */
export function renamedTo(replacement: string) {
  return { deprecated: true, "x-replaced-by": replacement };
}

const layerWeights = z.record(z.string().min(1), z.number().min(0).finite());

/**
 * Zod schema of {@linkcode StylizeOptions}.
 */
export const stylizeOptionsSchema = z.object({
  network: z.enum(["squeezenet", "googlenet", "vgg16"]).default("squeezenet")
    .describe("Feature network.")
    .meta(inPlugins("Network", {
      choices: {
        squeezenet: "SqueezeNet (fast)",
        googlenet: "GoogLeNet",
        vgg16: "VGG16 (the paper's; fetch its weights first)",
      },
    })),
  preset: z.string().min(1).default("default")
    .describe("Named preset of the network (layers and weights)."),
  iterations: z.number().int().min(1).max(MAX_ITERATIONS).default(100)
    .describe("Optimiser iterations (one L-BFGS update each).")
    .meta(inPlugins("Iterations")),
  previewEvery: z.number().int().min(1).default(10)
    .describe("Emit a preview image every N iterations (and always at the last).")
    .meta(inPlugins("Preview every", { maximum: MAX_ITERATIONS })),
  maxSize: z.number().int().min(16).max(MAX_SIZE).default(512)
    .describe("Longest side, in pixels, the optimisation runs at.")
    .meta(inPlugins("Size (px)")),
  maxDetailSize: z.number().int().min(16).max(MAX_DETAIL_SIZE).default(MAX_DETAIL_SIZE)
    .describe(
      "Longest side, in pixels, up to which the image is optimised. Above maxSize, detail " +
        "stages at doubling sizes carry the optimisation up to this or to the content's own " +
        "size, whichever is smaller. The result always has the content's size, upscaled from " +
        "there when the content is larger (set it to maxSize to optimise at maxSize only: faster).",
    )
    .meta(inPlugins("Optimise up to (px)")),
  detailIterations: z.number().int().min(1).max(MAX_ITERATIONS).default(10)
    .describe("Iterations of each detail stage (each stage above maxSize).")
    .meta(inPlugins("Detail iterations")),
  memoryBudget: z.number().int().min(16).optional()
    .describe(
      "MiB one stage may hold: the optimiser's image-sized vectors plus the network's " +
        "pass. A stage that needs more is evaluated in tiles (exactly, seam-free). " +
        "Default: a quarter of the machine's memory, at most 3072.",
    ),
  contentWeight: z.number().min(0).finite().optional()
    .describe("Weight of the content loss (preset's when omitted)."),
  styleWeight: z.number().min(0).finite().optional()
    .describe("Weight of the style loss (preset's when omitted)."),
  strength: z.number().min(0).max(100).default(50)
    .describe(
      "Style strength relative to the network's tuned balance: 50 keeps the style weight, " +
        "each 25 up or down multiplies or divides it by 10 (0 -> /100, 100 -> x100).",
    )
    .meta(inPlugins("Strength")),
  tvWeight: z.number().min(0).finite().optional()
    .describe("Weight of the total-variation loss (preset's when omitted)."),
  styleWeights: z.array(z.number().min(0).finite()).min(1).optional()
    .describe("Blend weights, one per style image (equal when omitted)."),
  styleScale: z.number().min(0.1).max(4).default(1)
    .describe("Style image size relative to the content's optimisation size."),
  preserveColors: z.union([z.boolean(), z.enum(["luminance", "match"])]).default(false)
    .describe(
      "Keep the content's colours: luminance-only transfer (true or 'luminance'), " +
        "or 'match' the style's colour statistics to the content first.",
    )
    .meta(inPlugins("Colours", {
      choices: {
        false: "The style's",
        luminance: "The layer's (luminance-only transfer)",
        match: "The layer's (style recoloured first)",
      },
    })),
  init: z.enum(["content", "noise", "image"]).default("content")
    .describe(
      "Start from the content image (keeps its structure; previews look like it from the " +
        "start), noise (the paper's choice), or `initImage`.",
    )
    .meta(inPlugins("Start from", {
      choices: { content: "The layer itself", noise: "Noise (the paper's choice)" },
    })),
  optimizer: z.enum(["lbfgs", "adam"]).default("lbfgs")
    .describe("Optimiser: L-BFGS (fewer, better steps) or Adam."),
  historySize: z.number().int().min(1).max(100).default(10)
    .describe("L-BFGS history size."),
  learningRate: z.number().positive().finite().default(5)
    .describe("Adam learning rate (in preprocessed pixel units)."),
  pooling: z.enum(["max", "avg", "blur"]).optional()
    .describe(
      "Downsampling pools: max (as trained), avg, or blur (an average weighted 1-2-1, " +
        "which paints no grid) (preset's when omitted).",
    ),
  padding: z.enum(["zero", "reflect"]).optional()
    .describe(
      "Convolution padding: zero (as trained) or reflect, which avoids bands along the " +
        "borders (preset's when omitted).",
    ),
  contentLayers: layerWeights.optional()
    .describe("Content layer -> weight (preset's when omitted)."),
  styleLayers: layerWeights.optional()
    .describe("Style layer -> weight (preset's when omitted)."),
  seed: z.number().int().min(0).optional()
    .describe("Seed for the noise initialisation; random when omitted."),
  scales: z.array(z.number().int().min(16).max(MAX_SIZE)).min(1).max(4).optional()
    .describe(
      "Coarse-to-fine sizes, e.g. [256, 512]; each stage starts from the last " +
        "(default: half of maxSize, then maxSize; maxSize alone below 256).",
    ),
  maxOutput: z.number().int().min(16).max(MAX_DETAIL_SIZE).optional()
    .describe(
      "Deprecated: the old name of maxDetailSize (it never capped the result, which always " +
        "has the content's size). Where both are given, the smaller applies.",
    )
    .meta(renamedTo("maxDetailSize")),
}).strict().overwrite((options) => {
  if (options.maxOutput !== undefined) {
    options.maxDetailSize = Math.min(options.maxDetailSize, options.maxOutput);
    delete options.maxOutput;
  }
  return options;
});

/** Every option's default: what `{}` parses to (fields the preset decides stay absent). */
export const DEFAULT_OPTIONS: StylizeOptions = stylizeOptionsSchema.parse({});

/** Options as a caller writes them: every field optional (the schema's input type). */
export type StylizeOptionsInput = Parameters<typeof stylizeOptionsSchema.decode>[0];
/** Options after defaults are applied (the schema's output type). */
export type StylizeOptions = ReturnType<typeof stylizeOptionsSchema.parse>;
