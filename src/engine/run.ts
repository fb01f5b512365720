/**
 * @module Where a run's options meet the network's preset: the one place.
 *
 * {@linkcode networkOptions} says how to build the network (pooling, padding),
 * {@linkcode resolveRun} what the loss is ({@linkcode LossDescription}): layers
 * and their weights, the terms' weights (`strength` included), TV and
 * normalisation. The engine, the server's guards and the CLI all read a run
 * through them; an option the preset does not allow is an issue naming the field.
 */
import { ZodError } from "zod";
import type { LossDescription } from "../loss/terms.ts";
import type { FeatureNetwork, LayerWeights, PadMode, Pooling, Preset } from "../net/network.ts";
import { presetNamed, PRESETS } from "../net/presets.ts";
import type { StylizeOptions } from "./options.ts";

/** What resolving a run needs of a network: its id, layers and presets. */
export type GuardedNetwork = Pick<FeatureNetwork, "id" | "layers" | "presets" | "outputSizes">;

/** A problem with one field of a run: its path (`options.maxSize`, `styles.0`) and what works. */
export type Issue = { path: string[]; message: string };

/** One `ZodError` listing `issues`, each with its field's path (an HTTP 422 names them). */
export function zodError(issues: Issue[]): ZodError {
  return new ZodError(
    issues.map(({ path, message }) => ({ code: "custom", path, message, input: undefined })),
  );
}

/**
 * How to build the network a run names: the options' pooling and padding, else
 * its preset's (an unknown preset is reported by {@linkcode resolveRun}).
 */
export function networkOptions(
  options: Pick<StylizeOptions, "network" | "preset" | "pooling" | "padding">,
  presets: Readonly<Record<string, Preset>> = PRESETS[options.network],
): { pooling?: Pooling; padding?: PadMode } {
  const preset = presetNamed(presets, options.preset);
  return {
    pooling: options.pooling ?? preset?.pooling,
    padding: options.padding ?? preset?.padding,
  };
}

/** Strength 0..100 -> style-weight multiplier, log-scaled: 0 -> 0.01, 50 -> 1, 100 -> 100. */
export function strengthFactor(strength: number): number {
  return 10 ** ((strength - 50) / 25);
}

/** Layers with a weight above 0, after reporting any the network does not have. */
function activeLayers(
  network: GuardedNetwork,
  weights: LayerWeights,
  field: "contentLayers" | "styleLayers",
  issues: Issue[],
): LayerWeights {
  const unknown = Object.keys(weights).filter((layer) => !network.layers.includes(layer));
  for (const layer of unknown) {
    issues.push({
      path: ["options", field],
      message: `unknown layer "${layer}" for ${network.id}; layers are: ${
        network.layers.join(", ")
      }`,
    });
  }
  return Object.fromEntries(
    Object.entries(weights).filter(([layer, w]) => w > 0 && !unknown.includes(layer)),
  );
}

/**
 * The loss of a run on `network`, or `undefined` with the reasons added to `issues`:
 * an unknown preset or layer, a term with a weight but no layer, no term at all.
 * A term with weight 0 has no layers.
 */
export function describeLoss(
  network: GuardedNetwork,
  options: StylizeOptions,
  issues: Issue[],
): LossDescription | undefined {
  const preset = presetNamed(network.presets, options.preset);
  if (!preset) {
    issues.push({
      path: ["options", "preset"],
      message: `unknown preset "${options.preset}" for ${network.id}; presets are: ${
        Object.keys(network.presets).join(", ")
      }`,
    });
    return undefined;
  }
  const before = issues.length;
  const content = activeLayers(
    network,
    options.contentLayers ?? preset.contentLayers,
    "contentLayers",
    issues,
  );
  const style = activeLayers(
    network,
    options.styleLayers ?? preset.styleLayers,
    "styleLayers",
    issues,
  );
  if (issues.length > before) return undefined;
  const contentWeight = options.contentWeight ?? preset.contentWeight;
  const styleWeight = options.styleWeight ?? preset.styleWeight;
  const term = (name: "content" | "style", weight: number, layers: LayerWeights) => {
    if (weight > 0 && Object.keys(layers).length === 0) {
      issues.push({
        path: ["options", `${name}Layers`],
        message: `the ${name} term has weight ${weight} but no layer with a weight above 0; ` +
          `name at least one of ${network.id}'s layers with a positive weight, ` +
          `or set ${name}Weight to 0 to turn the term off`,
      });
    }
    return weight > 0 ? layers : {};
  };
  if (options.styleWeights && !options.styleWeights.some((w) => w > 0)) {
    issues.push({
      path: ["options", "styleWeights"],
      message: "at least one weight must be greater than 0",
    });
  }
  const loss: LossDescription = {
    contentLayers: term("content", contentWeight, content),
    styleLayers: term("style", styleWeight, style),
    contentWeight,
    styleWeight: styleWeight * strengthFactor(options.strength),
    tvWeight: options.tvWeight ?? preset.tvWeight,
    normalize: preset.normalize ?? false,
  };
  const terms = Object.keys(loss.contentLayers).length + Object.keys(loss.styleLayers).length;
  if (issues.length === before && terms === 0) {
    for (const name of ["contentWeight", "styleWeight"]) {
      issues.push({
        path: ["options", name],
        message: "both the content and the style term are off (weight 0); " +
          "at least one needs a weight above 0 and a layer",
      });
    }
  }
  return issues.length > before ? undefined : loss;
}

/**
 * The loss of a run with `options` on `network`; throws one `ZodError` naming every
 * field that does not fit the network (see {@linkcode describeLoss}).
 *
 * @example
 * ```ts
 * const { loss } = resolveRun(stylizeOptionsSchema.parse({ strength: 75 }), network);
 * loss.styleWeight; // the preset's style weight x 10
 * ```
 */
export function resolveRun(
  options: StylizeOptions,
  network: GuardedNetwork,
): { loss: LossDescription } {
  const issues: Issue[] = [];
  const loss = describeLoss(network, options, issues);
  if (!loss) throw zodError(issues);
  return { loss };
}
