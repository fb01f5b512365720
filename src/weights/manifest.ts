/**
 * @module `weights/manifest.json`: where each network's weights come from.
 *
 * Per network: every source file (path, size, checksum, public URLs), the
 * source format, and for raw Caffe dumps the table of tensors (file, shape,
 * axis layout) the converter reads.
 */
import { repoPath } from "../config.ts";
import type { SourceFile } from "../fetch.ts";

/** Ids of the networks Restyle ships. */
export type NetworkId = "squeezenet" | "googlenet" | "vgg16";

/** All network ids, lightest first. */
export const NETWORK_IDS: readonly NetworkId[] = ["squeezenet", "googlenet", "vgg16"];

/** One tensor of a raw float32 dump: which file, its shape and axis order. */
export interface RawTensor {
  /** Canonical name, `<layer>/kernel` or `<layer>/bias`. */
  name: string;
  /** Source file (a `files` path). */
  file: string;
  /** Shape in the file's own axis order. */
  shape: number[];
  /** `OHWI` conv filter, `OI` dense matrix, `O` bias. */
  layout: "OHWI" | "OI" | "O";
}

/** A network's sources. */
export interface NetworkSources {
  /** Human-readable name of the weights. */
  title: string;
  /** Licence of the weights, as published upstream. */
  license: string;
  /** Where the weights come from (project and paper). */
  source: string;
  /** How the files are converted: raw caffejs float32 dumps, or a Keras h5. */
  format: "caffejs" | "keras-h5";
  /** Source file holding class labels (one per line), if any. */
  labels?: string;
  /** Every source file, with size and checksum. */
  files: SourceFile[];
  /** For `caffejs`: every tensor to read. */
  tensors?: RawTensor[];
}

/** The parsed manifest. */
export interface WeightsManifest {
  /** Format version of the manifest. */
  version: number;
  /** Sources of each network. */
  networks: Record<NetworkId, NetworkSources>;
}

/** Path of the manifest shipped in the repository. */
export function manifestPath(): string {
  return repoPath("weights/manifest.json");
}

/** Reads and minimally checks the manifest. */
export async function readManifest(path = manifestPath()): Promise<WeightsManifest> {
  const manifest = JSON.parse(await Deno.readTextFile(path)) as WeightsManifest;
  if (manifest.version !== 1 || typeof manifest.networks !== "object") {
    throw new Error(`${path}: not a version 1 weights manifest`);
  }
  return manifest;
}

/** sha256 (hex) of a network's manifest entry: changes whenever its sources do. */
export async function sourcesHash(sources: NetworkSources): Promise<string> {
  const bytes = new TextEncoder().encode(JSON.stringify(sources));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}
