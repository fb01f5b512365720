/**
 * @module The stages of a run: coarse to fine up to the working size, then
 * detail stages up to the content's own size, each planned to fit the memory
 * budget, whole or in tiles.
 */
import type { Reach } from "../executors/tiles.ts";
import { reachOf } from "../executors/tiles.ts";
import { type LossDescription, lossLayers } from "../loss/terms.ts";
import { layersOf } from "../net/graph.ts";
import type { FeatureNetwork } from "../net/network.ts";
import { planMemory } from "./memory.ts";
import type { StylizeOptions } from "./options.ts";

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

/** How one stage fits the budget: whole, or in tiles of `tile` px over `reach`; and its L-BFGS history. */
export type StageMemoryPlan =
  | { tile: null; historySize: number }
  | { tile: number; historySize: number; reach: Reach };

/**
 * How each stage (its `[h, w]`) fits in `budget` MiB: whole or in tiles, and the L-BFGS
 * history it keeps. Networks without a layer graph always run whole.
 */
export function stageMemory(
  network: FeatureNetwork,
  loss: LossDescription,
  sizes: readonly [number, number][],
  contentSize: readonly [number, number],
  budget: number,
  options: Pick<StylizeOptions, "optimizer" | "historySize">,
): StageMemoryPlan[] {
  const graph = layersOf(network);
  if (!graph) return sizes.map(() => ({ tile: null, historySize: options.historySize }));
  const reach = reachOf(graph, lossLayers(loss));
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
