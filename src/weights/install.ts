/**
 * @module Installing a network's weights: fetch, verify, convert, once.
 *
 * Sources are fetched into `weights/<id>/sources/` (from the mirror or the
 * public URLs), verified against the manifest, converted into the canonical
 * store (`weights.json` + `weights.bin`) and then removed. The store records
 * the hash of the manifest entry it came from, so a second run with the same
 * manifest finds it current and does nothing.
 */
import { mirrorDir, weightsDir } from "../config.ts";
import type { NetworkId } from "./manifest.ts";
import { convertCaffe } from "./convert_caffe.ts";
import { type FetchProgress, fetchVerified } from "../fetch.ts";
import {
  type NetworkSources,
  readManifest,
  sourcesHash,
  type WeightsManifest,
} from "./manifest.ts";
import { type StoredTensor, storeIsCurrent, writeStore } from "./store.ts";

/** The command that installs a network's weights. */
export function weightsCommand(id: NetworkId): string {
  return `deno task weights ${id}`;
}

/** How to install. */
export interface InstallOptions {
  /** Local mirror root (laid out like the public sources) to copy from; default `RESTYLE_MIRROR`. */
  mirror?: string;
  /** Root of converted weights; default `weightsDir()`. */
  dir?: string;
  /** The manifest; default the repository's `weights/manifest.json`. */
  manifest?: WeightsManifest;
  /** Re-verify `weights.bin`'s sha256 when deciding whether the store is current. */
  deepCheck?: boolean;
  /** Called as source files are copied or downloaded; default none. */
  onProgress?: (progress: FetchProgress) => void;
}

/** What `installWeights` did. */
export type InstallResult = "up-to-date" | "installed";

/** Makes `weights/<id>/` current; throws naming the file and command when a source is bad. */
export async function installWeights(
  id: NetworkId,
  options: InstallOptions = {},
): Promise<InstallResult> {
  const manifest = options.manifest ?? await readManifest();
  const sources = manifest.networks[id];
  if (!sources) throw new Error(`weights manifest has no network "${id}"`);
  const dir = `${options.dir ?? weightsDir()}/${id}`;
  const hash = await sourcesHash(sources);
  if (await storeIsCurrent(dir, hash, options.deepCheck)) return "up-to-date";

  const sourceDir = `${dir}/sources`;
  await fetchVerified(sources.files, {
    mirror: options.mirror ?? mirrorDir(),
    mirrorPrefix: `weights/${id}`,
    dest: sourceDir,
    fixCommand: weightsCommand(id),
    onProgress: options.onProgress,
  });
  const tensors = await convert(sources, sourceDir);
  const labels = sources.labels
    ? (await Deno.readTextFile(`${sourceDir}/${sources.labels}`)).split("\n").filter(Boolean)
    : undefined;
  await writeStore(dir, id, hash, tensors, labels);
  await Deno.remove(sourceDir, { recursive: true });
  return "installed";
}

async function convert(sources: NetworkSources, dir: string): Promise<StoredTensor[]> {
  switch (sources.format) {
    case "caffejs":
      return convertCaffe(dir, sources.tensors ?? []);
    case "keras-h5": {
      const { convertKerasH5 } = await import("./convert_keras_h5.ts");
      return convertKerasH5(`${dir}/${sources.files[0].path}`);
    }
  }
}
