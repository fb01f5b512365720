/**
 * @module The backend for a stylization, chosen by timing its real work.
 *
 * The probe is one image-gradient of the network's default-preset features,
 * the bulk of a loss evaluation, at the job's size bucket capped at
 * {@linkcode PROBE_MAX_SIZE} px so a probe stays within a couple of seconds.
 * `pickBackend` caches the winner per key, so only a first run pays for it.
 */
import * as tf from "@tensorflow/tfjs";
import { type BackendChoice, onnxActive, pickBackend } from "../backend.ts";
import { onnxProbe, releaseSessions } from "../onnx/mod.ts";
import { getNetwork, releaseNetworks } from "../net/load.ts";
import type { NetworkId } from "../net/network.ts";
import { stylizeOptionsSchema } from "./options.ts";
import { lossSetup } from "./stylize.ts";

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
  const key = size === undefined ? network : `${network}@${sizeBucket(size)}`;
  const side = Math.min(size ?? PROBE_MAX_SIZE, PROBE_MAX_SIZE);
  let backend: string | undefined;
  let native: (() => void) | undefined; // the onnx backend's evaluation, made on its first probe
  return pickBackend({
    key,
    probe: async () => {
      // Weights live on the backend that loaded them: reload when the candidate changes.
      if (backend !== tf.getBackend()) await releaseNetworks();
      backend = tf.getBackend();
      const net = await getNetwork(network);
      const setup = lossSetup(net, stylizeOptionsSchema.parse({ network }));
      if (onnxActive()) {
        native ??= onnxProbe(net, setup, side);
        return native();
      }
      const layers = [
        ...new Set([...Object.keys(setup.contentLayers), ...Object.keys(setup.styleLayers)]),
      ];
      const grad = tf.tidy(() => {
        const x = tf.randomUniform([1, side, side, 3], 0, 255, "float32", 1) as tf.Tensor4D;
        return tf.grad((image: tf.Tensor) => {
          const features = net.features(net.preprocess(image as tf.Tensor4D), layers);
          return tf.addN(Object.values(features).map((f) => tf.mean(tf.square(f)))) as tf.Scalar;
        })(x);
      });
      await grad.data();
      grad.dispose();
    },
  }).finally(() => {
    releaseSessions(); // made for the probe's weights and random targets
    return releaseNetworks();
  });
}
