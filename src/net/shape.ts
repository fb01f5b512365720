/**
 * @module A network's layer graph without its weights: names, presets and sizes.
 *
 * The HTTP process checks a job's layers and image sizes before queuing it, but
 * holds no weights and starts no tfjs backend. The graph is built here from
 * `weights.json` alone: each weight is a stand-in carrying just its shape, enough
 * for the layers' geometry (`outputSizes`); running the graph is an error.
 */
import type * as tf from "@tensorflow/tfjs";
import { weightsDir } from "../config.ts";
import { readStoreInfo } from "../weights/store.ts";
import { FACTORIES } from "./load.ts";
import type { FeatureNetwork, NetworkId, PadMode } from "./network.ts";

/** What is known of a network without its weights. */
export type NetworkShape = Pick<FeatureNetwork, "id" | "layers" | "presets" | "outputSizes">;

/** A weight that has a shape and nothing else. */
function standIn(name: string, shape: number[]): tf.Tensor {
  const fail = () => {
    throw new Error(`${name} is a shape-only stand-in: this network cannot run`);
  };
  return {
    name,
    shape,
    rank: shape.length,
    dtype: "float32",
    dataSync: fail,
    data: fail,
  } as unknown as tf.Tensor;
}

const cache = new Map<string, Promise<NetworkShape | undefined>>();

/**
 * The layer graph of network `id` from `<dir>/<id>/weights.json` (shapes only),
 * with its convolutions padded as `padding` says (reflect padding needs a side
 * larger than the pad), or `undefined` when its weights are not installed.
 * Cached per directory and padding.
 *
 * @example
 * ```ts
 * const net = await networkShape("squeezenet");
 * net?.outputSizes?.([17, 17], ["fire7/concat"]); // { "fire7/concat": [1, 1] }
 * ```
 */
export function networkShape(
  id: NetworkId,
  padding: PadMode = "zero",
  dir = weightsDir(),
): Promise<NetworkShape | undefined> {
  const key = `${dir}\n${id}\n${padding}`;
  let shape = cache.get(key);
  if (!shape) {
    shape = (async () => {
      const info = await readStoreInfo(`${dir}/${id}`).catch(() => undefined);
      if (!info) return undefined;
      const tensors: tf.NamedTensorMap = {};
      for (const entry of info.weights) tensors[entry.name] = standIn(entry.name, entry.shape);
      const network = FACTORIES[id](tensors, { padding });
      return {
        id: network.id,
        layers: network.layers,
        presets: network.presets,
        outputSizes: (input, layers) => network.outputSizes(input, layers),
      };
    })();
    // Not installed yet (or unreadable): look again next time.
    shape.then((s) => s ?? cache.delete(key), () => cache.delete(key));
    cache.set(key, shape);
  }
  return shape;
}
