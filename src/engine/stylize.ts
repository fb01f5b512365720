/**
 * @module Neural style transfer (Gatys, Ecker & Bethge, 2015), as one async generator.
 *
 * Read top to bottom, one run is: resolve the run (options over the preset:
 * `run.ts`) -> plan the stages (`stages.ts`) -> per stage, the targets
 * (`targets.ts`, or tile by tile) -> the objective (the loss terms of
 * `src/loss/terms.ts`, evaluated by the executor picked for the run, whole or
 * tiled) -> the optimiser (`stage_optimizer.ts`) -> previews (`preview.ts`).
 */
import * as tf from "@tensorflow/tfjs";
import { currentBackend } from "../backend.ts";
import type { Executor } from "../executors/executor.ts";
import { toHost, toTensor } from "../executors/host_image.ts";
import { executorFor } from "../executors/mod.ts";
import { fromTensors, onTensors, tiledObjective, type Tiling } from "../executors/tiled.ts";
import type { RgbaImage } from "../image/image.ts";
import { alphaOf, fitToLongestSide, imageToTensor, resize } from "../image/tensor.ts";
import { type LossDescription, type StageTargets, wholeImageTerms } from "../loss/terms.ts";
import { getNetwork } from "../net/load.ts";
import type { FeatureNetwork } from "../net/network.ts";
import { PRESETS } from "../net/presets.ts";
import { matchColors } from "./color.ts";
import { checkInputs, checkRun, runImages } from "./guards.ts";
import { noiseImage, randomSeed } from "./init.ts";
import { defaultMemoryBudget } from "./memory.ts";
import type { AsyncObjective, HostObjective } from "./optimizer.ts";
import { type StylizeOptions, type StylizeOptionsInput, stylizeOptionsSchema } from "./options.ts";
import { preview } from "./preview.ts";
import { networkOptions } from "./run.ts";
import { hostRun, type StageRun, tensorRun } from "./stage_optimizer.ts";
import { stageMemory, stagePlan } from "./stages.ts";
import { disposeTargets, stageTargets, type StyleRegion, tiledStageTargets } from "./targets.ts";
import { layerMasks, maskValues } from "./masks.ts";
import type { TiledTargets } from "../executors/tiled.ts";

/** What to stylize, with what, and how. */
export interface StylizeInput {
  /** Any size; its alpha is kept and re-applied to every image produced. */
  content: RgbaImage;
  /** One or more; their Grams are blended by `options.styleWeights`. */
  styles: RgbaImage[];
  /** Starting image for `options.init === "image"`. */
  initImage?: RgbaImage;
  /**
   * Where each style paints (Gatys et al. 2017's spatial control): one mask per style, in
   * the same order, or one mask for all of them (their blend paints inside it). Any size
   * (scaled to the content's); its alpha where it has any transparency, else its luminance:
   * 0 untouched, 1 fully styled, soft values between. Outside every mask only the content
   * term acts. Without masks every style covers the whole image.
   */
  masks?: RgbaImage[];
  /** Parsed with {@linkcode stylizeOptionsSchema}; invalid options throw a `ZodError`. */
  options?: StylizeOptionsInput;
  /** Overrides the network named by `options.network`. */
  network?: FeatureNetwork;
  /**
   * What evaluates the objective; default: ONNX Runtime when the `onnx` backend is
   * active and the network is a layer graph, else tfjs on its active backend.
   */
  executor?: Executor;
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

/**
 * From this many pixels (256²) a whole stage on ONNX Runtime runs L-BFGS in host memory: 4.2 s
 * against 17.6 s for a 512 px result. Below it the saving is small, and a soak of 90 jobs of
 * 32-64 px showed the engine's memory taking one step up (7 %) late with host vectors, which
 * it does not with tensors; not yet understood, so tiny stages keep tensors.
 */
const HOST_VECTORS_FROM = 256 * 256;

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
  checkInputs(options, {
    styles: input.styles.length,
    initImage: input.initImage !== undefined,
    masks: input.masks?.length,
  });
  const { signal } = input;
  signal?.throwIfAborted();
  // The preset names the network's pooling and padding; an unknown one is reported by checkRun.
  const network = input.network ??
    await getNetwork(options.network, networkOptions(options, PRESETS[options.network]));
  const loss = checkRun(network, options, runImages(input.content, input.styles));
  const executor = input.executor ?? executorFor(currentBackend(), network);
  const plan = stagePlan(options, Math.max(input.content.width, input.content.height));
  const budget = options.memoryBudget ?? defaultMemoryBudget();
  // Every stage's memory plan, made before any work: a budget too small is refused up front.
  const memories = stageMemory(
    network,
    loss,
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
  let targets: StageTargets | TiledTargets | undefined;
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
      const styles = await stageStyles(input, options, content, held);
      const regions = await styleRegions(network, input, loss, styles, blend, [h, w]);
      const memory = memories[index];
      const tiling: Tiling | undefined = memory.tile === null ? undefined : {
        tile: memory.tile,
        reach: memory.reach,
        signal,
        onTile: (tile, tiles) => input.onTile?.({ iteration: iteration + 1, tile, tiles }),
      };
      // Targets, then the objective: the loss terms of this stage, whole or tile by tile.
      let objective: { tensors: AsyncObjective } | { host: HostObjective };
      if (!tiling) {
        const wholeTargets = await stageTargets(executor, network, content, regions, loss);
        targets = wholeTargets;
        const terms = wholeImageTerms(loss, wholeTargets, [h, w]);
        objective = { tensors: (x) => Promise.resolve(executor.evaluate(x as tf.Tensor4D, terms)) };
      } else {
        const tiler = { executor, network, tiling };
        const tiledTargets = await tiledStageTargets(tiler, content, regions, loss);
        targets = tiledTargets;
        objective = { host: tiledObjective(executor, network, loss, tiledTargets, tiling) };
      }
      held.free(...styles);

      // The optimiser, from the previous stage's result or options.init.
      const x0 = held.add(startingPoint(network, options, input, content, x, seed, [h, w]));
      held.free(content, x); // the targets and the start are made
      x = undefined;
      // A tiled stage keeps its image-sized vectors in host memory, beside one tile on the
      // device; so does a stage of HOST_VECTORS_FROM pixels or more on an executor that reads
      // the image back at every evaluation (ONNX Runtime), where L-BFGS's vector work as tfjs
      // ops cost several evaluations.
      const onHost = "host" in objective || (executor.hostMemory && h * w >= HOST_VECTORS_FROM);
      if (onHost && options.optimizer === "lbfgs") {
        const host = "host" in objective ? objective.host : fromTensors(objective.tensors, [h, w]);
        const counted: HostObjective = (x, grad) => (evaluations += 1, host(x, grad));
        const start = await toHost(x0);
        held.free(x0); // before the first evaluation: the device holds one tile's pass
        run = await hostRun(counted, start, memory.historySize, bounds);
      } else {
        const inner = "host" in objective ? onTensors(objective.host) : objective.tensors;
        const counted: AsyncObjective = async (x) => (evaluations += 1, await inner(x));
        run = await tensorRun(counted, x0, options, memory.historySize, clip);
        held.free(x0);
      }

      // The iterations, each yielded, with a preview every previewEvery.
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

/**
 * The style images at a stage's scale (`styleScale` times the content's longest side
 * there), each given the content's colours when `preserveColors` is `match`; held by `held`.
 */
async function stageStyles(
  input: StylizeInput,
  options: StylizeOptions,
  content: tf.Tensor4D,
  held: Held,
): Promise<tf.Tensor4D[]> {
  const side = Math.max(
    16,
    Math.round(options.styleScale * Math.max(...content.shape.slice(1, 3))),
  );
  const styles: tf.Tensor4D[] = [];
  for (const image of input.styles) {
    const rgb = held.add(tf.tidy(() => {
      const [sh, sw] = fitToLongestSide(image.height, image.width, side);
      return resize(imageToTensor(image), sh, sw);
    }));
    if (options.preserveColors === "match") {
      styles.push(held.add(await matchColors(rgb, content)));
      held.free(rgb);
    } else {
      styles.push(rgb);
    }
  }
  return styles;
}

/**
 * Which styles paint where at a stage of `[h, w]`: without masks all of them, blended,
 * everywhere; with one mask all of them inside it; with one mask per style each inside
 * its own (`styleWeights` then has nothing to blend).
 */
async function styleRegions(
  network: FeatureNetwork,
  input: StylizeInput,
  loss: LossDescription,
  styles: tf.Tensor4D[],
  blend: number[],
  size: readonly [number, number],
): Promise<StyleRegion[]> {
  const masks = input.masks ?? [];
  if (masks.length === 0) return [{ images: styles, blend }];
  const layers = Object.keys(loss.styleLayers);
  const at = async (image: RgbaImage) => {
    const values = maskValues(image);
    try {
      return await layerMasks(network, values, size, layers);
    } finally {
      values.dispose();
    }
  };
  if (masks.length === 1) return [{ images: styles, blend, masks: await at(masks[0]) }];
  return Promise.all(styles.map(async (style, i) => ({
    images: [style],
    blend: [1],
    masks: await at(masks[i]),
  })));
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
