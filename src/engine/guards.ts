/**
 * @module Checks every edge runs before a stylization starts: layers, loss terms, sizes.
 *
 * `stylize()` calls {@linkcode checkRun} with the loaded network; the HTTP
 * server calls it with the network's shape (its layer graph without weights)
 * and the sizes read from the image headers, so a bad request is refused with
 * a 422 naming the field before it is queued or decoded, instead of failing
 * inside tfjs ("Must pass at least one tensor", a wasm "memory access out of
 * bounds" in a MaxPool over a 0-pixel blob, or a hang).
 *
 * Every problem is an issue of one `ZodError`, with the field's path
 * (`options.maxSize`, `content`, `styles.0`) and a message saying what works.
 */
import { fitToLongestSide } from "../image/image.ts";
import type { LossDescription } from "../loss/terms.ts";
import { MAX_SIZE, type StylizeOptions } from "./options.ts";
import { describeLoss, type GuardedNetwork, type Issue, zodError } from "./run.ts";

export type { GuardedNetwork };

/** An image of the run, by the field that carries it and its size. */
export interface SizedImage {
  /** Where the image came from, as the caller names it: `content`, `styles.0`, `styleImage[1]`. */
  field: string;
  width: number;
  height: number;
}

/** The images of a run, by size. */
export interface RunImages {
  content: SizedImage;
  styles: SizedImage[];
}

/** Largest `styleScale` the schema accepts. */
const MAX_STYLE_SCALE = 4;

function fieldPath(field: string): string[] {
  return field.split(".");
}

/** The layers a run evaluates. */
export interface CheckedLayers {
  /** Content layers with a weight above 0 (empty when the content term is off). */
  content: string[];
  /** Style layers with a weight above 0 (empty when the style term is off). */
  style: string[];
}

/** Whether every one of `layers` has at least one pixel at input size `[h, w]`. */
function fits(network: GuardedNetwork, layers: readonly string[], h: number, w: number): boolean {
  const sizes = network.outputSizes!([h, w], layers);
  return Object.values(sizes).every(([oh, ow]) => oh >= 1 && ow >= 1);
}

const minimumSides = new WeakMap<GuardedNetwork, Map<string, number>>();

/**
 * The smallest side (of a square input) at which every one of `layers` has at
 * least one pixel, from the network's geometry; `undefined` for networks without
 * `outputSizes` or layers that need more than 4096 px.
 *
 * @example
 * ```ts
 * minimumSide(squeezenet, ["fire7/concat"]); // 17
 * ```
 */
export function minimumSide(
  network: GuardedNetwork,
  layers: readonly string[],
): number | undefined {
  if (!network.outputSizes || layers.length === 0) return layers.length === 0 ? 1 : undefined;
  let cache = minimumSides.get(network);
  if (!cache) minimumSides.set(network, cache = new Map());
  const key = [...layers].sort().join("\n");
  if (!cache.has(key)) {
    let side = 1;
    while (side <= 4096 && !fits(network, layers, side, side)) side++;
    cache.set(key, side);
  }
  const side = cache.get(key)!;
  return side > 4096 ? undefined : side;
}

/** The deepest-reaching of `layers`: the one that needs the largest input. */
function limitingLayer(network: GuardedNetwork, layers: readonly string[]): string {
  return layers.reduce((a, b) =>
    (minimumSide(network, [b]) ?? Infinity) > (minimumSide(network, [a]) ?? Infinity) ? b : a
  );
}

/**
 * Checks that the content, at every working size (`maxSize` or each of
 * `scales`), and every style image, at its working size, are large enough for
 * the layers evaluated on them; the issue names the option to change and the
 * smallest value that works, or the image when no value up to `largest` would.
 */
function sizeIssues(
  network: GuardedNetwork,
  options: StylizeOptions,
  layers: CheckedLayers,
  images: RunImages,
  largest: number,
  issues: Issue[],
): void {
  if (!network.outputSizes) return;
  const all = [...new Set([...layers.content, ...layers.style])];
  const { content } = images;
  const stages = options.scales
    ? options.scales.map((size, i) => ({
      size,
      field: `options.scales.${i}`,
      label: `scales[${i}]`,
    }))
    : [{ size: options.maxSize, field: "options.maxSize", label: "maxSize" }];
  const need = (list: string[]) => {
    const layer = limitingLayer(network, list);
    return `${network.id}'s layer ${layer} needs a side of at least ${
      minimumSide(network, [layer])
    } px`;
  };
  for (const { size, field, label } of stages) {
    const [h, w] = fitToLongestSide(content.height, content.width, size);
    if (fits(network, all, h, w)) {
      styleIssues(network, options, layers, images, [h, w], `${label} ${size}`, issues);
      continue;
    }
    let larger = size + 1;
    while (larger <= largest) {
      const [lh, lw] = fitToLongestSide(content.height, content.width, larger);
      if (fits(network, all, lh, lw)) break;
      larger++;
    }
    const worked =
      `at ${size} px the ${content.field} image (${content.width}x${content.height}) ` +
      `is worked on at ${w}x${h}, and ${need(all)}`;
    issues.push(
      larger <= largest
        ? { path: fieldPath(field), message: `${worked}: use ${larger} or more` }
        : {
          path: fieldPath(content.field),
          message: `${worked}; even at the largest size allowed (${largest}) it is too thin: ` +
            `crop it or pad it to a less elongated shape, or use shallower layers`,
        },
    );
  }
}

function styleIssues(
  network: GuardedNetwork,
  options: StylizeOptions,
  layers: CheckedLayers,
  images: RunImages,
  [h, w]: [number, number],
  stage: string,
  issues: Issue[],
): void {
  if (layers.style.length === 0) return;
  const styleSideAt = (scale: number) => Math.max(16, Math.round(scale * Math.max(h, w)));
  for (const style of images.styles) {
    const fitsAt = (scale: number) => {
      const [sh, sw] = fitToLongestSide(style.height, style.width, styleSideAt(scale));
      return fits(network, layers.style, sh, sw);
    };
    if (fitsAt(options.styleScale)) continue;
    const [sh, sw] = fitToLongestSide(style.height, style.width, styleSideAt(options.styleScale));
    const layer = limitingLayer(network, layers.style);
    const worked = `with styleScale ${options.styleScale} at ${stage} the ${style.field} image ` +
      `(${style.width}x${style.height}) is worked on at ${sw}x${sh}, and ${network.id}'s ` +
      `layer ${layer} needs a side of at least ${minimumSide(network, [layer])} px`;
    let scale = Math.ceil(options.styleScale * 100) / 100;
    while (scale <= MAX_STYLE_SCALE && !fitsAt(scale)) scale = Math.round(scale * 100 + 1) / 100;
    issues.push(
      scale <= MAX_STYLE_SCALE
        ? { path: ["options", "styleScale"], message: `${worked}: use styleScale ${scale} or more` }
        : {
          path: fieldPath(style.field),
          message: `${worked}; no styleScale up to ${MAX_STYLE_SCALE} makes it large enough: ` +
            "use a larger or less elongated style image",
        },
    );
  }
}

/** Limits of {@linkcode checkRun} a caller applies beyond the schema's. */
export interface RunLimits {
  /** Largest `maxSize` (and `scales` entry) the caller serves; default the schema's, 2048. */
  maxSize?: number;
}

/**
 * Every check before a run: preset, layers, at least one loss term, and the
 * content and style images large enough at their working sizes for the layers
 * asked for (when the network states its geometry). Throws one `ZodError`
 * listing every problem, each with the field's path; returns the run's loss
 * (by `run.ts`'s rules, where options meet the preset). A size it suggests, or says
 * none works up to, is within `limits.maxSize` (a server's own limit).
 *
 * @example
 * ```ts
 * checkRun(network, stylizeOptionsSchema.parse({ maxSize: 64 }), {
 *   content: { field: "content", width: 1200, height: 24 },
 *   styles: [{ field: "styles.0", width: 512, height: 512 }],
 * }); // throws: options.maxSize ... use 850 or more
 * ```
 */
export function checkRun(
  network: GuardedNetwork,
  options: StylizeOptions,
  images: RunImages,
  limits: RunLimits = {},
): LossDescription {
  const issues: Issue[] = [];
  const loss = describeLoss(network, options, issues);
  if (loss) {
    const layers = {
      content: Object.keys(loss.contentLayers),
      style: Object.keys(loss.styleLayers),
    };
    const largest = Math.min(limits.maxSize ?? MAX_SIZE, MAX_SIZE);
    sizeIssues(network, options, layers, images, largest, issues);
  }
  if (issues.length) throw zodError(issues);
  return loss!;
}

/**
 * Throws a ZodError unless the options agree with the run's inputs: at least one style
 * image, one `styleWeights` entry per style with one above 0, no mask, one, or one per
 * style, and an init image when `init` is `"image"`. `stylize()` checks its images with
 * it, the server its form's fields.
 */
export function checkInputs(
  options: Pick<StylizeOptions, "styleWeights" | "init">,
  inputs: { styles: number; initImage: boolean; masks?: number },
): void {
  const issues: Issue[] = [];
  const issue = (path: string, message: string) => issues.push({ path: fieldPath(path), message });
  if (inputs.styles < 1) issue("styles", "at least one style image is required");
  const weights = options.styleWeights;
  if (weights && inputs.styles >= 1 && weights.length !== inputs.styles) {
    issue(
      "options.styleWeights",
      `expected one weight per style image (${inputs.styles}), got ${weights.length}`,
    );
  } else if (weights && !weights.some((w) => w > 0)) {
    issue("options.styleWeights", "at least one weight must be greater than 0");
  }
  const masks = inputs.masks ?? 0;
  if (masks > 0 && masks !== 1 && masks !== inputs.styles) {
    issue(
      "masks",
      `expected one mask for all styles or one per style image (${inputs.styles}), got ${masks}`,
    );
  }
  if (options.init === "image" && !inputs.initImage) {
    issue("initImage", 'options.init is "image" but no initImage was given');
  }
  if (issues.length) throw zodError(issues);
}

/** The sizes of a run's images as `stylize()` names them: `content`, `styles.0`, `styles.1`… */
export function runImages(
  content: { width: number; height: number },
  styles: readonly { width: number; height: number }[],
): RunImages {
  const sized = (field: string, { width, height }: { width: number; height: number }) => ({
    field,
    width,
    height,
  });
  return {
    content: sized("content", content),
    styles: styles.map((style, i) => sized(`styles.${i}`, style)),
  };
}
