/**
 * @module Neural style transfer (Gatys, Ecker & Bethge, 2015), as one async generator.
 *
 * preprocess -> features -> Gram -> content/style/TV losses -> total ->
 * L-BFGS step -> deprocess. Targets (content activations, blended style Grams)
 * are computed once per scale; the loop below reads back only the loss values
 * and, every `previewEvery` iterations, a preview image.
 */
import * as tf from "@tensorflow/tfjs";
import type { RgbaImage } from "../image/image.ts";
import { alphaOf, fitToLongestSide, imageToTensor, resize } from "../image/tensor.ts";
import { getNetwork } from "../net/load.ts";
import type { FeatureNetwork, LayerWeights, Preset } from "../net/network.ts";
import { presetNamed, PRESETS } from "../net/presets.ts";
import { type StylizeOptions, type StylizeOptionsInput, stylizeOptionsSchema } from "./options.ts";
import {
  blendGrams,
  contentLoss,
  type Features,
  type Grams,
  type LayerScales,
  type LossSetup,
  styleLoss,
  tvLoss,
} from "./losses.ts";
import { matchColors } from "./color.ts";
import { noiseImage, randomSeed } from "./init.ts";
import { lbfgs } from "./lbfgs.ts";
import { adam } from "./adam.ts";
import { valueAndGrad } from "../ops/tape.ts";
import { checkInputs, checkRun, runImages } from "./guards.ts";
import type { AsyncObjective, HostObjective, Objective } from "./optimizer.ts";
import { hostLbfgs } from "./lbfgs_host.ts";
import { layersOf } from "../net/graph.ts";
import { type Reach, reachOf } from "./tiles.ts";
import { defaultMemoryBudget, planMemory } from "./memory.ts";
import {
  onTensors,
  tiledObjective,
  type TiledTargets,
  tiledTargets,
  type Tiling,
} from "./tiled_objective.ts";
import { type HostImage, toHost, toTensor } from "./host_image.ts";
import { preview } from "./preview.ts";
import { onnxStage } from "../onnx/mod.ts";

/** What to stylize, with what, and how. */
export interface StylizeInput {
  /** Any size; its alpha is kept and re-applied to every image produced. */
  content: RgbaImage;
  /** One or more; their Grams are blended by `options.styleWeights`. */
  styles: RgbaImage[];
  /** Starting image for `options.init === "image"`. */
  initImage?: RgbaImage;
  /** Parsed with {@linkcode stylizeOptionsSchema}; invalid options throw a `ZodError`. */
  options?: StylizeOptionsInput;
  /** Overrides the network named by `options.network`. */
  network?: FeatureNetwork;
  /** Aborting stops the run within one iteration (or tile); the generator then throws `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Called after each tile of a tiled evaluation (a detail stage too large for the
   * memory budget), so a caller can show progress during a long iteration.
   */
  onTile?: (progress: TileProgress) => void;
}

/** Where a tiled evaluation has got to. */
export interface TileProgress {
  /** The iteration being computed (1-based, counting across scales). */
  iteration: number;
  /** Tiles done in this evaluation, of `tiles`. */
  tile: number;
  /** Tiles in this evaluation's grid. */
  tiles: number;
}

/** Loss terms as weighted into the total: `total = content + style + tv`. */
export interface Losses {
  /** The objective the optimiser minimises: the sum of the three terms. */
  total: number;
  /** Content loss times `contentWeight`. */
  content: number;
  /** Style loss (Gram matrices, blended over the style images) times `styleWeight`. */
  style: number;
  /** Total-variation loss times `tvWeight`; 0 when it is off. */
  tv: number;
}

/** One optimiser iteration. */
export interface StylizeStep {
  /** 1-based, counting across scales. */
  iteration: number;
  /** Total over all scales. */
  iterations: number;
  /** This iteration's losses. */
  losses: Losses;
  /** Milliseconds since the run started. */
  elapsedMs: number;
  /** Loss + gradient evaluations so far, over all scales (L-BFGS spends one or more per iteration). */
  evaluations: number;
  /** Every `previewEvery`-th iteration and the last: at the content's size, its alpha re-applied. */
  image?: RgbaImage;
}

export type { LossSetup };

/** The preset `options.preset` of `presets`, or a RangeError naming the presets there are. */
function findPreset(
  presets: Readonly<Record<string, Preset>>,
  options: StylizeOptions,
): Preset {
  const preset = presetNamed(presets, options.preset);
  if (!preset) {
    throw new RangeError(
      `options.preset: unknown preset "${options.preset}" for ${options.network}; presets are: ${
        Object.keys(presets).join(", ")
      }`,
    );
  }
  return preset;
}

/** Options' layers and weights, falling back to the preset's; layers with weight 0 are dropped. */
export function lossSetup(network: FeatureNetwork, options: StylizeOptions): LossSetup {
  const preset = findPreset(network.presets, options);
  const nonZero = (weights: LayerWeights, field: string) => {
    for (const layer of Object.keys(weights)) {
      if (!network.layers.includes(layer)) {
        throw new RangeError(
          `options.${field}: unknown layer "${layer}" for ${network.id}; layers are: ${
            network.layers.join(", ")
          }`,
        );
      }
    }
    return Object.fromEntries(Object.entries(weights).filter(([, w]) => w > 0));
  };
  return {
    contentLayers: nonZero(options.contentLayers ?? preset.contentLayers, "contentLayers"),
    styleLayers: nonZero(options.styleLayers ?? preset.styleLayers, "styleLayers"),
    contentWeight: options.contentWeight ?? preset.contentWeight,
    styleWeight: (options.styleWeight ?? preset.styleWeight) * strengthFactor(options.strength),
    tvWeight: options.tvWeight ?? preset.tvWeight,
    normalize: preset.normalize ?? false,
  };
}

/** Strength 0..100 -> style-weight multiplier, log-scaled: 0 -> 0.01, 50 -> 1, 100 -> 100. */
export function strengthFactor(strength: number): number {
  return 10 ** ((strength - 50) / 25);
}

/** Below this `maxSize` a run has one stage; from it up, a half-size stage comes first. */
export const COARSE_TO_FINE_FROM = 256;

/**
 * The stages when `options.scales` is not given: half of `maxSize`, then
 * `maxSize` (one stage below {@linkcode COARSE_TO_FINE_FROM}). The layout and
 * the big strokes form at the half size, where an iteration costs a quarter;
 * the final stage adds detail at full size.
 */
export function defaultScales(maxSize: number): number[] {
  return maxSize >= COARSE_TO_FINE_FROM ? [Math.round(maxSize / 2), maxSize] : [maxSize];
}

/** One coarse-to-fine stage: its longest side and iterations. */
export interface Stage {
  size: number;
  iterations: number;
  /** A detail stage: above `maxSize`, on the way to the content's own size. */
  detail: boolean;
}

/**
 * Each stage above the working size doubles the last, as long as the next stays clearly
 * below the target (a stage that would barely differ from the target is skipped).
 */
const DETAIL_STEP = 2;
const DETAIL_SKIP_BELOW = 1.4;

/**
 * The stages of a run on a content image whose longest side is `contentSide`:
 * the working stages (`options.scales`, or {@linkcode defaultScales}) share
 * `options.iterations` evenly (the rest to the last); then, when the content is
 * larger than the last of them, detail stages at doubling sizes up to the
 * content's own side (or `options.maxDetailSize`, if smaller), each with
 * `options.detailIterations`.
 */
export function stagePlan(options: StylizeOptions, contentSide = 0): Stage[] {
  const sizes = options.scales ?? defaultScales(options.maxSize);
  const each = Math.floor(options.iterations / sizes.length);
  const rest = options.iterations - each * sizes.length;
  const stages = sizes
    .map((size, i) => ({
      size,
      iterations: each + (i >= sizes.length - rest ? 1 : 0),
      detail: false,
    }))
    .filter((stage) => stage.iterations > 0);
  const target = Math.min(contentSide, options.maxDetailSize);
  let size = sizes.at(-1)!;
  if (target <= size) return stages;
  while (size * DETAIL_STEP * DETAIL_SKIP_BELOW <= target) {
    size *= DETAIL_STEP;
    stages.push({ size, iterations: options.detailIterations, detail: true });
  }
  stages.push({ size: target, iterations: options.detailIterations, detail: true });
  return stages;
}

/** What one stage optimises towards, computed once. */
export interface Targets {
  content: Features;
  grams: Grams;
  contentScales: LayerScales;
  styleScales: LayerScales;
}

/** 1 / mean(t²) per layer, read back once per stage: makes every layer's loss start near 1 for peaky networks. */
async function inverseMeanSquares(tensors: Record<string, tf.Tensor>): Promise<LayerScales> {
  const layers = Object.keys(tensors);
  if (layers.length === 0) return {};
  const ms = tf.tidy(() => tf.stack(layers.map((l) => tf.mean(tf.square(tensors[l])))));
  const values = await ms.data();
  ms.dispose();
  return Object.fromEntries(layers.map((l, i) => [l, 1 / Math.max(values[i], 1e-12)]));
}

async function computeTargets(
  network: FeatureNetwork,
  content: tf.Tensor4D,
  styles: tf.Tensor4D[],
  blend: number[],
  setup: LossSetup,
): Promise<Targets> {
  const contentLayers = Object.keys(setup.contentLayers);
  const styleLayers = Object.keys(setup.styleLayers);
  // Whatever is made here is freed here if a later part throws.
  const made: Record<string, tf.Tensor>[] = [];
  try {
    const native = onnxStage(network)?.targets(content, styles, blend, setup);
    if (native) made.push(native.content, native.grams);
    const contentFeatures = native?.content ??
      tf.tidy(() => network.features(network.preprocess(content), contentLayers));
    if (!native) made.push(contentFeatures);
    const perStyle = native ? [] : styles.map((style) => {
      const features = tf.tidy(() => network.features(network.preprocess(style), styleLayers));
      made.push(features);
      return features;
    });
    const grams = native?.grams ?? blendGrams(perStyle, blend);
    perStyle.forEach((features) => tf.dispose(Object.values(features)));
    made.splice(1);
    made.push(grams);
    const targets = { content: contentFeatures, grams, contentScales: {}, styleScales: {} };
    if (setup.normalize) {
      targets.contentScales = await inverseMeanSquares(contentFeatures);
      targets.styleScales = await inverseMeanSquares(grams);
    }
    return targets;
  } catch (error) {
    made.forEach((tensors) => tf.dispose(Object.values(tensors)));
    throw error;
  }
}

function disposeTargets(targets: Targets | TiledTargets | undefined) {
  if (!targets) return;
  const content = "data" in targets.content ? [] : Object.values(targets.content);
  tf.dispose([...content, ...Object.values(targets.grams)]);
}

/**
 * How each stage (its `[h, w]`) fits in `budget` MiB: whole or in tiles, and the L-BFGS
 * history it keeps. Networks without a layer graph always run whole.
 */
function stageMemory(
  network: FeatureNetwork,
  setup: LossSetup,
  sizes: readonly [number, number][],
  contentSize: readonly [number, number],
  budget: number,
  options: StylizeOptions,
): ({ tile: null; historySize: number } | { tile: number; historySize: number; reach: Reach })[] {
  const graph = layersOf(network);
  if (!graph) return sizes.map(() => ({ tile: null, historySize: options.historySize }));
  const layers = [...Object.keys(setup.contentLayers), ...Object.keys(setup.styleLayers)];
  const reach = reachOf(graph, layers);
  const plans = planMemory(
    sizes,
    contentSize,
    reach,
    budget,
    options.optimizer,
    options.historySize,
  );
  return plans.map((plan) =>
    plan.tile === null
      ? { tile: null, historySize: plan.historySize }
      : { tile: plan.tile, historySize: plan.historySize, reach }
  );
}

/**
 * The objective of one stage: x -> [total, content, style, tv] and ∇ₓ total,
 * the terms already multiplied by their weights.
 */
export function styleObjective(
  network: FeatureNetwork,
  targets: Targets,
  setup: LossSetup,
): Objective {
  const layers = [
    ...new Set([...Object.keys(setup.contentLayers), ...Object.keys(setup.styleLayers)]),
  ];
  const zero = () => tf.scalar(0);
  return (x) => {
    let terms: tf.Tensor1D | undefined;
    const evaluate = valueAndGrad((x: tf.Tensor) => {
      const image = x as tf.Tensor4D;
      const features = network.features(image, layers);
      const content = setup.contentWeight > 0
        ? tf.mul(
          contentLoss(features, targets.content, setup.contentLayers, targets.contentScales),
          setup.contentWeight,
        )
        : zero();
      const style = setup.styleWeight > 0
        ? tf.mul(
          styleLoss(features, targets.grams, setup.styleLayers, targets.styleScales),
          setup.styleWeight,
        )
        : zero();
      const tv = setup.tvWeight > 0 ? tf.mul(tvLoss(image), setup.tvWeight) : zero();
      const total = tf.addN([content, style, tv]) as tf.Scalar;
      terms = tf.keep(tf.stack([total, content, style, tv]) as tf.Tensor1D);
      return total;
    });
    let value: tf.Tensor, grad: tf.Tensor;
    try {
      ({ value, grad } = evaluate(x));
    } catch (error) {
      terms?.dispose(); // kept before a backward pass that threw
      throw error;
    }
    value.dispose();
    return { values: terms!, grad };
  };
}

/** Every tensor the run holds between iterations, so one place can free them all. */
class Held {
  readonly #tensors = new Set<tf.Tensor>();
  add<T extends tf.Tensor>(t: T): T {
    this.#tensors.add(t);
    return t;
  }
  free(...ts: (tf.Tensor | undefined)[]) {
    for (const t of ts) {
      if (t && this.#tensors.delete(t)) t.dispose();
    }
  }
  dispose() {
    tf.dispose([...this.#tensors]);
    this.#tensors.clear();
  }
}

/**
 * Stylizes `input.content` after `input.styles`, yielding every iteration.
 *
 * On abort it frees everything and throws `signal.reason`; on any failure it
 * frees everything and rethrows. Tensor count returns to where it was.
 *
 * @example
 * ```ts
 * for await (const step of stylize({ content, styles: [starryNight], options: { iterations: 50 } })) {
 *   if (step.image) await Deno.writeFile(`out-${step.iteration}.png`, await encodePng(step.image));
 * }
 * ```
 */
export async function* stylize(input: StylizeInput): AsyncGenerator<StylizeStep> {
  const options = stylizeOptionsSchema.parse(input.options ?? {});
  checkInputs(options, { styles: input.styles.length, initImage: input.initImage !== undefined });
  const { signal } = input;
  signal?.throwIfAborted();
  // The preset names the network's pooling and padding; an unknown one is reported by checkRun.
  const presets = input.network?.presets ?? PRESETS[options.network];
  const preset = presetNamed(presets, options.preset);
  const network = input.network ?? await getNetwork(options.network, {
    pooling: options.pooling ?? preset?.pooling,
    padding: options.padding ?? preset?.padding,
  });
  checkRun(network, options, runImages(input.content, input.styles));
  const setup = lossSetup(network, options);
  const plan = stagePlan(options, Math.max(input.content.width, input.content.height));
  const budget = options.memoryBudget ?? defaultMemoryBudget();
  // Every stage's memory plan, made before any work: a budget too small is refused up front.
  const memories = stageMemory(
    network,
    setup,
    plan.map((stage) => fitToLongestSide(input.content.height, input.content.width, stage.size)),
    [input.content.height, input.content.width],
    budget,
    options,
  );
  const iterations = plan.reduce((n, stage) => n + stage.iterations, 0);
  const blend = options.styleWeights ?? input.styles.map(() => 1);
  const seed = options.seed ?? randomSeed();
  const colorMode = options.preserveColors === true ? "luminance" : options.preserveColors || null;
  const alpha = alphaOf(input.content);
  const started = performance.now();

  const held = new Held();
  let run: StageRun | undefined;
  let targets: Targets | TiledTargets | undefined;
  let x: tf.Tensor4D | undefined; // the image being optimised, preprocessed, carried across stages
  let iteration = 0;
  let evaluations = 0;
  try {
    // The content at a stage's size, made when needed: at 4096 px a resident copy is 192 MiB.
    const contentAt = (h: number, w: number) =>
      tf.tidy(() => resize(imageToTensor(input.content), h, w));
    // Valid pixels, in preprocessed space: the images of RGB 0 and RGB 255.
    const low = held.add(tf.tidy(() => network.preprocess(tf.zeros([1, 1, 1, 3]))));
    const high = held.add(tf.tidy(() => network.preprocess(tf.fill([1, 1, 1, 3], 255))));
    const clip = (t: tf.Tensor) => tf.minimum(tf.maximum(t, low), high);
    const bounds = {
      lower: Array.from(await low.data()),
      upper: Array.from(await high.data()),
    };

    for (const [index, stage] of plan.entries()) {
      const [h, w] = fitToLongestSide(input.content.height, input.content.width, stage.size);
      const content = held.add(contentAt(h, w));
      const styleSide = Math.max(16, Math.round(options.styleScale * Math.max(h, w)));
      const styles: tf.Tensor4D[] = [];
      for (const image of input.styles) {
        const rgb = held.add(tf.tidy(() => {
          const t = imageToTensor(image);
          const [sh, sw] = fitToLongestSide(image.height, image.width, styleSide);
          return resize(t, sh, sw);
        }));
        if (colorMode === "match") {
          styles.push(held.add(await matchColors(rgb, content)));
          held.free(rgb);
        } else {
          styles.push(rgb);
        }
      }
      const memory = memories[index];
      let stageObjective: Objective | AsyncObjective | undefined;
      let hostObjective: HostObjective | undefined;
      if (memory.tile === null) {
        targets = await computeTargets(network, content, styles, blend, setup);
        stageObjective = onnxStage(network)?.objective(targets, setup, [h, w]) ??
          styleObjective(network, targets, setup);
      } else {
        const tiling: Tiling = {
          tile: memory.tile,
          reach: memory.reach,
          signal,
          onTile: (tile, tiles) => input.onTile?.({ iteration: iteration + 1, tile, tiles }),
        };
        targets = await tiledTargets(network, content, styles, blend, setup, tiling);
        hostObjective = tiledObjective(network, targets, setup, tiling);
      }
      held.free(...styles);

      const x0 = held.add(startingPoint(network, options, input, content, x, seed, [h, w]));
      held.free(content); // the targets and the start are made
      held.free(x);
      x = undefined;
      if (hostObjective && options.optimizer === "lbfgs") {
        // A tiled stage keeps its image-sized vectors in host memory, beside one tile on the device.
        const tiled = hostObjective;
        const counted: HostObjective = (x, grad) => (evaluations += 1, tiled(x, grad));
        const start = await toHost(x0);
        held.free(x0); // before the first evaluation: the device holds one tile's pass
        run = await hostRun(counted, start, memory.historySize, bounds);
      } else {
        const inner = stageObjective ?? onTensors(hostObjective!);
        const counted: AsyncObjective = async (x) => (evaluations += 1, await inner(x));
        run = await tensorRun(counted, x0, options, memory.historySize, clip);
        held.free(x0);
      }

      for (let i = 0; i < stage.iterations; i++) {
        signal?.throwIfAborted();
        const [total, contentTerm, styleTerm, tv] = await run.step();
        iteration += 1;
        const step: StylizeStep = {
          iteration,
          iterations,
          losses: { total, content: contentTerm, style: styleTerm, tv },
          elapsedMs: performance.now() - started,
          evaluations,
        };
        if (iteration % options.previewEvery === 0 || iteration === iterations) {
          step.image = await preview(network, run.current(), input.content, colorMode, alpha);
        }
        signal?.throwIfAborted();
        yield step;
      }
      if (index < plan.length - 1) {
        const last = run.current();
        x = held.add(last instanceof tf.Tensor ? last.clone() : toTensor(last));
      }
      run.dispose();
      run = undefined;
      disposeTargets(targets);
      targets = undefined;
    }
  } finally {
    run?.dispose();
    disposeTargets(targets);
    held.dispose();
  }
}

/** A stage's optimiser, whichever memory its vectors live in. */
interface StageRun {
  /** One iteration; resolves to [total, content, style, tv] after it. */
  step(): Promise<number[]>;
  /** The current image, the optimiser's own (not to be freed or kept past the next step). */
  current(): tf.Tensor4D | HostImage;
  dispose(): void;
}

/** L-BFGS or Adam over tensors, starting at `x0` (the caller's still). */
async function tensorRun(
  objective: AsyncObjective,
  x0: tf.Tensor4D,
  options: StylizeOptions,
  historySize: number,
  clip: (t: tf.Tensor) => tf.Tensor,
): Promise<StageRun> {
  const optimizer = options.optimizer === "lbfgs"
    ? await lbfgs(objective, x0, { historySize, project: clip })
    : await adam(objective, x0, { learningRate: options.learningRate, project: clip });
  return {
    step: () => optimizer.step(),
    current: () => optimizer.x as tf.Tensor4D,
    dispose: () => optimizer.dispose(),
  };
}

/** L-BFGS over host memory (a tiled stage), starting at `start` (taken over). */
async function hostRun(
  objective: HostObjective,
  start: HostImage,
  historySize: number,
  bounds: { lower: number[]; upper: number[] },
): Promise<StageRun> {
  const optimizer = await hostLbfgs(objective, start.data, { historySize, bounds });
  return {
    step: () => optimizer.step(),
    current: () => ({ data: optimizer.x, height: start.height, width: start.width }),
    dispose: () => {},
  };
}

/** The first image of a stage: the previous stage's result upsampled, else `options.init`. */
function startingPoint(
  network: FeatureNetwork,
  options: StylizeOptions,
  input: StylizeInput,
  content: tf.Tensor4D,
  previous: tf.Tensor4D | undefined,
  seed: number,
  [h, w]: [number, number],
): tf.Tensor4D {
  if (previous) return resize(previous, h, w);
  switch (options.init) {
    case "noise":
      return noiseImage([1, h, w, 3], seed);
    case "content":
      return network.preprocess(content);
    case "image":
      return tf.tidy(() => network.preprocess(resize(imageToTensor(input.initImage!), h, w)));
  }
}
