/**
 * @module The canonical weight format every network loads.
 *
 * `weights/<id>/weights.json` describes the tensors (tfjs
 * `WeightsManifestEntry`: name, shape, dtype) and `weights/<id>/weights.bin`
 * holds them back to back, exactly as `tf.io.encodeWeights` writes them.
 * Convolution kernels are stored HWIO (`[kh, kw, in, out]`), dense kernels
 * `[in, out]`, so loading is a plain decode. Optional `labels.txt` holds class
 * labels, one per line. Writing needs no tfjs backend (converters hand over
 * plain float32 arrays); reading decodes with `tf.io.decodeWeights`.
 */
import * as tf from "@tensorflow/tfjs";
import { hashFile } from "../fetch.ts";

/** Format tag and version written into every `weights.json`. */
export const STORE_FORMAT = "restyle-weights";
export const STORE_VERSION = 1;

/** Contents of `weights.json`. */
export interface StoredWeightsInfo {
  format: typeof STORE_FORMAT;
  version: number;
  network: string;
  /** Hash of the manifest entry the weights were converted from. */
  sourcesHash: string;
  /** Size and sha256 of `weights.bin`. */
  bin: { size: number; sha256: string };
  weights: tf.io.WeightsManifestEntry[];
}

/** One float32 tensor in canonical layout, as converters produce it. */
export interface StoredTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Weights decoded from the store, plus their labels when present. */
export interface LoadedWeights {
  tensors: tf.NamedTensorMap;
  labels?: string[];
}

/** Files of a stored network. */
export function storePaths(dir: string) {
  return { json: `${dir}/weights.json`, bin: `${dir}/weights.bin`, labels: `${dir}/labels.txt` };
}

/** The bytes of `tensors` back to back (little-endian float32) and their manifest entries. */
export function encodeTensors(
  tensors: StoredTensor[],
): { data: Uint8Array; specs: tf.io.WeightsManifestEntry[] } {
  const total = tensors.reduce((sum, t) => sum + t.data.length, 0);
  const data = new Uint8Array(4 * total);
  const view = new DataView(data.buffer);
  const specs: tf.io.WeightsManifestEntry[] = [];
  let offset = 0;
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new Error(`tensor ${t.name}: shape [${t.shape}] does not hold ${t.data.length} values`);
    }
    for (let i = 0; i < count; i++) view.setFloat32(offset + 4 * i, t.data[i], true);
    offset += 4 * count;
    specs.push({ name: t.name, shape: t.shape, dtype: "float32" });
  }
  return { data, specs };
}

/** Writes `tensors` as the canonical format into `dir` (created when missing). */
export async function writeStore(
  dir: string,
  network: string,
  sourcesHash: string,
  tensors: StoredTensor[],
  labels?: string[],
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const paths = storePaths(dir);
  const { data, specs } = encodeTensors(tensors);
  await Deno.writeFile(paths.bin, data);
  if (labels) await Deno.writeTextFile(paths.labels, labels.join("\n") + "\n");
  const info: StoredWeightsInfo = {
    format: STORE_FORMAT,
    version: STORE_VERSION,
    network,
    sourcesHash,
    bin: { size: data.byteLength, sha256: await hashFile(paths.bin, "sha256") },
    weights: specs,
  };
  // weights.json last: its presence marks a complete store.
  await Deno.writeTextFile(paths.json, JSON.stringify(info, null, 1) + "\n");
}

/** Reads `weights.json`, or `undefined` when absent; throws when it is not ours. */
export async function readStoreInfo(dir: string): Promise<StoredWeightsInfo | undefined> {
  const path = storePaths(dir).json;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return undefined;
  }
  let info: StoredWeightsInfo;
  try {
    info = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON`);
  }
  if (info.format !== STORE_FORMAT || info.version !== STORE_VERSION) {
    throw new Error(`${path} is not ${STORE_FORMAT} version ${STORE_VERSION}`);
  }
  return info;
}

/**
 * Whether the store in `dir` is complete and was converted from `sourcesHash`;
 * with `deep`, also checks `weights.bin`'s sha256 (otherwise only its size).
 */
export async function storeIsCurrent(
  dir: string,
  sourcesHash: string,
  deep = false,
): Promise<boolean> {
  const info = await readStoreInfo(dir).catch(() => undefined);
  if (!info || info.sourcesHash !== sourcesHash) return false;
  const bin = storePaths(dir).bin;
  const size = await Deno.stat(bin).then((s) => s.size, () => -1);
  if (size !== info.bin.size) return false;
  return !deep || await hashFile(bin, "sha256") === info.bin.sha256;
}

/** Decodes the store in `dir`; `fixCommand` is quoted when something is missing or damaged. */
export async function readStore(dir: string, fixCommand: string): Promise<LoadedWeights> {
  const paths = storePaths(dir);
  let info: StoredWeightsInfo | undefined;
  try {
    info = await readStoreInfo(dir);
  } catch (error) {
    throw new Error(`${(error as Error).message}; run \`${fixCommand}\` to rebuild it`);
  }
  if (!info) {
    throw new Error(`${paths.json} is missing; run \`${fixCommand}\` to fetch the weights`);
  }
  let data: Uint8Array;
  try {
    data = await Deno.readFile(paths.bin);
  } catch {
    throw new Error(`${paths.bin} is missing; run \`${fixCommand}\` to fetch the weights`);
  }
  if (data.byteLength !== info.bin.size) {
    throw new Error(
      `${paths.bin} is damaged (${data.byteLength} bytes, expected ${info.bin.size}); ` +
        `run \`${fixCommand}\` to rebuild it`,
    );
  }
  const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  const tensors = tf.io.decodeWeights(buffer as ArrayBuffer, info.weights);
  const labels = await Deno.readTextFile(paths.labels).then(
    (text) => text.split("\n").filter((line) => line.length > 0),
    () => undefined,
  );
  return { tensors, labels };
}
