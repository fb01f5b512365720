/**
 * @module A stage's optimiser, whichever memory its vectors live in: L-BFGS or Adam
 * over tensors (a whole-image stage), or L-BFGS over host memory (a tiled stage).
 */
import type * as tf from "@tensorflow/tfjs";
import type { HostImage } from "../executors/host_image.ts";
import { adam } from "./adam.ts";
import { lbfgs } from "./lbfgs.ts";
import { hostLbfgs } from "./lbfgs_host.ts";
import type { AsyncObjective, HostObjective } from "./optimizer.ts";
import type { StylizeOptions } from "./options.ts";

/** A stage's optimiser in progress. */
export interface StageRun {
  /** One iteration; resolves to [total, content, style, tv] after it. */
  step(): Promise<number[]>;
  /** The current image, the optimiser's own (not to be freed or kept past the next step). */
  current(): tf.Tensor4D | HostImage;
  dispose(): void;
}

/** L-BFGS or Adam over tensors, starting at `x0` (the caller's still). */
export async function tensorRun(
  objective: AsyncObjective,
  x0: tf.Tensor4D,
  options: Pick<StylizeOptions, "optimizer" | "learningRate">,
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
export async function hostRun(
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
