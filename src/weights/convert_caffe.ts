/**
 * @module Converting caffejs's raw float32 dumps to canonical tensors.
 *
 * caffejs wrote one little-endian float32 file per blob with conv filters in
 * `[out, kh, kw, in]` order (see `../shared/weights/PROVENANCE.md`). tfjs wants
 * `[kh, kw, in, out]`: permute axes (1, 2, 3, 0). Dense matrices `[out, in]`
 * become `[in, out]`; biases stay as they are.
 */
import type { RawTensor } from "./manifest.ts";
import type { StoredTensor } from "./store.ts";

/** Reads `file` (relative to `dir`) as little-endian float32 of exactly `shape`. */
async function readFloat32(dir: string, tensor: RawTensor): Promise<Float32Array> {
  const path = `${dir}/${tensor.file}`;
  const bytes = await Deno.readFile(path);
  const count = tensor.shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== 4 * count) {
    throw new Error(
      `${path}: ${bytes.byteLength} bytes, expected ${4 * count} for shape [${tensor.shape}]`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(4 * i, true);
  return values;
}

/**
 * Moves the leading (output) axis last: `[O, ...rest]` -> `[...rest, O]`.
 * For a filter this is the permutation (1, 2, 3, 0); for a matrix, the transpose.
 */
export function outputAxisLast(values: Float32Array, shape: readonly number[]): StoredTensor {
  const [out, ...rest] = shape;
  const inner = values.length / out;
  const moved = new Float32Array(values.length);
  for (let o = 0; o < out; o++) {
    for (let j = 0; j < inner; j++) moved[j * out + o] = values[o * inner + j];
  }
  return { name: "", shape: [...rest, out], data: moved };
}

/** Reads every tensor of a caffejs dump under `dir` into canonical layout. */
export async function convertCaffe(dir: string, tensors: RawTensor[]): Promise<StoredTensor[]> {
  const out: StoredTensor[] = [];
  for (const tensor of tensors) {
    const values = await readFloat32(dir, tensor);
    const canonical = tensor.layout === "O"
      ? { name: "", shape: [...tensor.shape], data: values }
      : outputAxisLast(values, tensor.shape);
    out.push({ ...canonical, name: tensor.name });
  }
  return out;
}
