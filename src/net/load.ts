/**
 * @module Loading networks from their converted weights.
 *
 * `loadNetwork` reads `weights/<id>/` (see `src/weights/store.ts`) and builds a
 * fresh network the caller owns. `getNetwork` keeps one copy of each network's
 * weights per process, shared by every pooling variant, for servers.
 */
import type * as tf from "@tensorflow/tfjs";
import { weightsDir } from "../config.ts";
import { readStore, readStoreInfo, storePaths } from "../weights/store.ts";
import { weightsCommand } from "../weights/install.ts";
import type { GraphNetwork } from "./graph.ts";
import { createGooglenet } from "./googlenet.ts";
import {
  NETWORK_IDS,
  type NetworkId,
  type NetworkOptions,
  type PadMode,
  type Pooling,
} from "./network.ts";
import { createSqueezenet } from "./squeezenet.ts";
import { createVgg16 } from "./vgg16.ts";

export type { PadMode, Pooling } from "./network.ts";

/** Where to load from and how to pool. */
export interface LoadOptions {
  /** Root of converted weights; default `weightsDir()` (`<home>/weights`). */
  dir?: string;
  /** Downsampling pools: `max` (as trained, default) or `avg` (Gatys et al.'s choice). */
  pooling?: Pooling;
  /** Convolution padding: `zero` (as trained, default) or `reflect` (no border artefacts). */
  padding?: PadMode;
}

type Factory = (tensors: tf.NamedTensorMap, options: NetworkOptions) => GraphNetwork;

/** Each network's builder, from canonical weights. */
export const FACTORIES: Record<NetworkId, Factory> = {
  squeezenet: createSqueezenet,
  googlenet: createGooglenet,
  vgg16: createVgg16,
};

function checkId(id: string): asserts id is NetworkId {
  if (!NETWORK_IDS.includes(id as NetworkId)) {
    throw new Error(`unknown network "${id}"; networks are: ${NETWORK_IDS.join(", ")}`);
  }
}

/**
 * Loads network `id` from `<dir>/<id>/weights.json` + `weights.bin`.
 * Throws naming the missing or damaged file and `deno task weights <id>`.
 * The caller owns the result and must `dispose()` it.
 */
export async function loadNetwork(id: NetworkId, options: LoadOptions = {}): Promise<GraphNetwork> {
  checkId(id);
  const dir = `${options.dir ?? weightsDir()}/${id}`;
  const { tensors, labels } = await readStore(dir, weightsCommand(id));
  try {
    return FACTORIES[id](tensors, { pooling: options.pooling, padding: options.padding, labels });
  } catch (error) {
    Object.values(tensors).forEach((t) => t.dispose());
    throw new Error(
      `${storePaths(dir).json}: ${(error as Error).message}; run \`${
        weightsCommand(id)
      }\` to rebuild it`,
    );
  }
}

const cache = new Map<string, Promise<GraphNetwork>>();

/**
 * The process-wide network `id` with `pooling` and `padding`; weights are read
 * once per network and shared between the variants. Do not `dispose()` the result;
 * {@link releaseNetworks} frees everything.
 */
export function getNetwork(id: NetworkId, options: LoadOptions = {}): Promise<GraphNetwork> {
  const dir = options.dir ?? weightsDir();
  const pooling = options.pooling ?? "max";
  const padding = options.padding ?? "zero";
  const key = `${dir}\n${id}\n${pooling}\n${padding}`;
  let network = cache.get(key);
  if (!network) {
    network = pooling === "max" && padding === "zero"
      ? loadNetwork(id, { dir, pooling })
      : getNetwork(id, { dir }).then((owner) =>
        FACTORIES[id](owner.weights, {
          pooling,
          padding,
          labels: owner.labels,
          sharedTensors: true,
        })
      );
    // A failed load is not cached: fixing the weights and retrying works.
    network.catch(() => cache.delete(key));
    cache.set(key, network);
  }
  return network;
}

/** Frees every network {@link getNetwork} loaded. */
export async function releaseNetworks(): Promise<void> {
  const networks = await Promise.allSettled([...cache.values()]);
  cache.clear();
  for (const result of networks) {
    if (result.status === "fulfilled") result.value.dispose();
  }
}

/**
 * Whether network `id`'s converted weights are in place (complete store, right
 * size), without loading them.
 */
export async function networkReady(id: NetworkId, dir = weightsDir()): Promise<boolean> {
  const store = `${dir}/${id}`;
  try {
    const info = await readStoreInfo(store);
    if (!info) return false;
    const stat = await Deno.stat(storePaths(store).bin);
    return stat.size === info.bin.size;
  } catch {
    return false;
  }
}
