/**
 * @module What the optimisers share: the objective they minimise and the stepping interface.
 */
import type * as tf from "@tensorflow/tfjs";

import type { Evaluation, HostObjective } from "../executors/executor.ts";

export type { Evaluation, HostObjective };

/** The function an optimiser minimises: point -> value(s) and gradient. */
export type Objective = (x: tf.Tensor) => Evaluation;

/**
 * An objective that answers asynchronously: a tiled one yields between tiles, so
 * its process stays responsive during a long evaluation. Optimisers take either.
 */
export type AsyncObjective = (x: tf.Tensor) => Promise<Evaluation>;

/** Keeps a point feasible, e.g. clips pixels to their valid range; must not dispose its input. */
export type Projection = (x: tf.Tensor) => tf.Tensor;

/** An optimiser in progress: each `step()` is one update of `x`. */
export interface Optimizer {
  /** Takes one step; resolves to the objective's values (as read back) after it. */
  step(): Promise<number[]>;
  /** The current point (owned by the optimiser: clone it to keep it past the next step). */
  readonly x: tf.Tensor;
  /** Frees every tensor the optimiser holds. */
  dispose(): void;
}
