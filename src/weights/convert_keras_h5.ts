/**
 * @module Converting Keras legacy h5 weight files (VGG16 "notop") to canonical tensors.
 *
 * Layout (Keras `save_weights` before Keras 3): the root attribute
 * `layer_names` lists the layers in order; each layer's group carries the
 * attribute `weight_names`, paths of its datasets relative to the group
 * (`block1_conv1_W_1:0` in old files, `block1_conv1/kernel:0` in newer ones),
 * kernel first, then bias. Conv kernels are already `[kh, kw, in, out]`, the
 * canonical layout. Names are read from the attributes, never assumed.
 *
 * The file is read with h5wasm (HDF5 compiled to WebAssembly) from its
 * in-memory file system, so no native library is needed.
 */
import h5wasm from "h5wasm";
import type { StoredTensor } from "./store.ts";

type H5File = InstanceType<typeof h5wasm.File>;

/** An HDF5 object with attributes (group or file). */
interface WithAttrs {
  attrs: Record<string, { value: unknown }>;
}

/** An attribute as a list of strings (empty when absent or empty). */
function stringList(object: WithAttrs, name: string): string[] {
  const value = object.attrs[name]?.value;
  if (value === undefined || value === null) return [];
  if (typeof value === "string") return [value];
  return Array.from(value as ArrayLike<unknown>, (v) => String(v));
}

function dataset(file: H5File, path: string, source: string) {
  const found = file.get(path);
  if (!(found instanceof h5wasm.Dataset)) {
    throw new Error(`${source}: dataset "${path}" named by weight_names is missing`);
  }
  return found;
}

function float32(values: unknown, path: string, source: string): Float32Array {
  if (values instanceof Float32Array) return values;
  if (values instanceof Float64Array || values instanceof Array) return Float32Array.from(values);
  throw new Error(`${source}: dataset "${path}" is not floating point`);
}

/** Reads every layer with weights from a Keras legacy h5 as `<layer>/kernel`, `<layer>/bias`. */
export async function convertKerasH5Bytes(
  bytes: Uint8Array,
  source = "h5 file",
): Promise<StoredTensor[]> {
  const { FS } = await h5wasm.ready;
  const memPath = `/restyle-${crypto.randomUUID()}.h5`;
  FS.writeFile(memPath, bytes);
  let file: H5File | undefined;
  try {
    file = new h5wasm.File(memPath, "r");
    const layers = stringList(file as unknown as WithAttrs, "layer_names");
    if (layers.length === 0) {
      throw new Error(`${source}: no root attribute "layer_names" (not a Keras weights file)`);
    }
    const out: StoredTensor[] = [];
    for (const layer of layers) {
      const group = file.get(layer);
      if (!(group instanceof h5wasm.Group)) {
        throw new Error(`${source}: layer "${layer}" listed in layer_names has no group`);
      }
      const names = stringList(group as unknown as WithAttrs, "weight_names");
      if (names.length === 0) continue; // input, pooling: no weights
      if (names.length !== 2) {
        throw new Error(`${source}: layer "${layer}" has ${names.length} weights, expected 2`);
      }
      const [kernel, bias] = names.map((name) => {
        const path = `${layer}/${name}`;
        const d = dataset(file!, path, source);
        return { path, shape: [...(d.shape ?? [])], data: float32(d.value, path, source) };
      });
      if (bias.shape.length !== 1 || kernel.shape[kernel.shape.length - 1] !== bias.shape[0]) {
        throw new Error(
          `${source}: layer "${layer}": kernel [${kernel.shape}] and bias [${bias.shape}] ` +
            `do not fit (weight_names must list the kernel first)`,
        );
      }
      out.push({ name: `${layer}/kernel`, shape: kernel.shape, data: kernel.data });
      out.push({ name: `${layer}/bias`, shape: bias.shape, data: bias.data });
    }
    return out;
  } finally {
    file?.close();
    FS.unlink(memPath);
  }
}

/** Reads the h5 file at `path` (see {@link convertKerasH5Bytes}). */
export async function convertKerasH5(path: string): Promise<StoredTensor[]> {
  return convertKerasH5Bytes(await Deno.readFile(path), path);
}
