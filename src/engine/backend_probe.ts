/**
 * @module The backend for a stylization, chosen by timing its real work.
 *
 * The probe is one evaluation of the network's default loss (targets from
 * pseudo-random images) by the executor each candidate backend runs, at the
 * job's size bucket capped at {@linkcode PROBE_MAX_SIZE} px so a probe stays
 * within a couple of seconds. `pickBackend` caches the winner per key, so only
 * a first run pays for it.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendChoice, currentBackend, pickBackend } from "../backend.ts";
import type { Executor } from "../executors/executor.ts";
import { executorFor } from "../executors/mod.ts";
import { type StageTargets, wholeImageTerms } from "../loss/terms.ts";
import { getNetwork, releaseNetworks } from "../net/load.ts";
import type { NetworkId } from "../net/network.ts";
import { stylizeOptionsSchema } from "./options.ts";
import { networkOptions, resolveRun } from "./run.ts";
import { disposeTargets, stageTargets } from "./targets.ts";

/** The largest side a probe evaluates at. */
export const PROBE_MAX_SIZE = 256;

/** The size bucket of a `size` px job: the next power of two, at least 256. */
export function sizeBucket(size: number): number {
  return Math.max(256, 2 ** Math.ceil(Math.log2(size)));
}

/**
 * Initialises the fastest backend for `network` (at `size` px when given: the
 * choice is then kept per size bucket) and returns the choice. A backend forced
 * with `RESTYLE_BACKEND` is used as is.
 */
export function chooseBackend(network: NetworkId, size?: number): Promise<BackendChoice> {
  // "loss": choices timed by this probe (the whole loss through each executor), not an older one.
  const key = `${size === undefined ? network : `${network}@${sizeBucket(size)}`} loss`;
  const side = Math.min(size ?? PROBE_MAX_SIZE, PROBE_MAX_SIZE);
  const options = stylizeOptionsSchema.parse({ network });
  let backend: string | undefined;
  let probe: { executor: Executor; x: tf.Tensor4D; targets: StageTargets } | undefined;
  const release = () => {
    if (!probe) return;
    tf.dispose(probe.x);
    disposeTargets(probe.targets);
    probe.executor.release(); // sessions made for the probe's weights and random targets
    probe = undefined;
  };
  return pickBackend({
    key,
    probe: async () => {
      // Weights live on the backend that loaded them: reload when the candidate changes.
      if (backend !== currentBackend()) {
        release();
        await releaseNetworks();
      }
      backend = currentBackend();
      const net = await getNetwork(network, networkOptions(options));
      const { loss } = resolveRun(options, net);
      if (!probe) {
        const executor = executorFor(currentBackend(), net);
        const rgb = (seed: number) =>
          tf.randomUniform([1, side, side, 3], 0, 255, "float32", seed) as tf.Tensor4D;
        const [content, style] = [rgb(1), rgb(2)];
        const targets = await stageTargets(executor, net, content, [{
          images: [style],
          blend: [1],
        }], loss)
          .finally(() => tf.dispose([content, style]));
        probe = { executor, targets, x: tf.tidy(() => net.preprocess(rgb(3))) };
      }
      const { values, grad } = probe.executor.evaluate(
        probe.x,
        wholeImageTerms(loss, probe.targets, [side, side]),
      );
      await grad.data();
      tf.dispose([values, grad]);
    },
  }).finally(() => {
    release();
    return releaseNetworks();
  });
}
