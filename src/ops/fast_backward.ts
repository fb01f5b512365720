/**
 * @module The process-wide switch for Restyle's fast backward pass.
 *
 * The style loss is differentiated with respect to the image only (the network
 * is frozen), so `src/ops/` routes that gradient through fast forward kernels.
 * Turning the switch off restores tfjs's default gradients, for comparison and
 * as an escape hatch: `RESTYLE_FAST_BACKWARD=0` or `setFastBackward(false)`.
 */
import * as tf from "@tensorflow/tfjs";
import { fastBackwardSetting } from "../config.ts";

let enabled: boolean | undefined;

/**
 * Whether ops use the fast image-gradient path now: switched on (the default; env
 * `RESTYLE_FAST_BACKWARD=0` turns it off) and running on `wasm`.
 *
 * Measured with `deno task bench`: on wasm it is 5.5-11.8x faster at 256 px; on cpu
 * 0.7-0.9x (that backend's forward kernels are no faster than its backward ones); on
 * WebGPU ~1x, and its conv gradient read back zeros under a tape on the software adapter.
 */
export function fastBackward(): boolean {
  enabled ??= fastBackwardSetting();
  return enabled && tf.getBackend() === "wasm";
}

/**
 * Turns the fast backward pass on or off for every op created afterwards in this process.
 *
 * @example
 * ```ts
 * setFastBackward(false); // tfjs's default gradients, e.g. to compare timings
 * ```
 */
export function setFastBackward(on: boolean): void {
  enabled = on;
}
