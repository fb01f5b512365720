/**
 * @module A small ONNX graph builder over `onnx-proto`'s generated protobuf classes.
 *
 * Nodes are added in topological order and named uniquely; float and int64
 * constants become initializers (raw little-endian bytes). `encode()` yields a
 * `ModelProto` ONNX Runtime loads from memory.
 */
import onnxProto from "onnx-proto";

const { onnx } = onnxProto;

/** The ONNX operator set the graphs are written against. */
export const OPSET = 17;

/** TensorProto element types used here. */
const FLOAT = 1;
const INT64 = 7;

/** Float attribute value (a plain number is an INT attribute). */
export interface FloatAttr {
  f: number;
}

/** Attribute values: integer, float (`{ f }`), string, or list of integers. */
export type Attr = number | FloatAttr | string | readonly number[];

/** Builds one ONNX graph. */
export class GraphBuilder {
  readonly #nodes: object[] = [];
  readonly #initializers: object[] = [];
  readonly #inputs: object[] = [];
  readonly #outputs: object[] = [];
  readonly #names = new Set<string>();
  readonly #constants = new Map<string, string>();

  /** A name not used yet, from `hint`. */
  fresh(hint: string): string {
    let name = hint;
    for (let i = 1; this.#names.has(name); i++) name = `${hint}_${i}`;
    this.#names.add(name);
    return name;
  }

  /** Adds node `type` reading `inputs` (`""` for an omitted optional one); returns its outputs' names. */
  nodes(
    type: string,
    inputs: readonly string[],
    attrs: Record<string, Attr> = {},
    outputs = 1,
    hint = type,
  ): string[] {
    const names = Array.from({ length: outputs }, (_, i) => this.fresh(i ? `${hint}:${i}` : hint));
    this.#nodes.push({
      opType: type,
      name: this.fresh(`node:${names[0]}`),
      input: [...inputs],
      output: names,
      attribute: Object.entries(attrs).map(([name, value]) => attribute(name, value)),
    });
    return names;
  }

  /** Adds a one-output node; returns its output's name. */
  node(
    type: string,
    inputs: readonly string[],
    attrs: Record<string, Attr> = {},
    hint = type,
  ): string {
    return this.nodes(type, inputs, attrs, 1, hint)[0];
  }

  /** A float32 initializer of `dims`; small ones are shared by value. */
  float(values: Float32Array | readonly number[], dims: readonly number[], hint = "const"): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.#initializer(
      FLOAT,
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      dims,
      hint,
    );
  }

  /** A float32 scalar (shape `[]`). */
  scalar(value: number): string {
    return this.float([value], [], "scalar");
  }

  /** An int64 initializer (1-D unless `dims` is given). */
  int64(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const data = BigInt64Array.from(values.map(BigInt));
    return this.#initializer(INT64, new Uint8Array(data.buffer), dims, "ints");
  }

  #initializer(type: number, bytes: Uint8Array, dims: readonly number[], hint: string): string {
    const small = bytes.byteLength <= 64;
    const key = small ? `${type}|${dims}|${bytes.join(",")}` : "";
    const known = small ? this.#constants.get(key) : undefined;
    if (known) return known;
    const name = this.fresh(hint);
    this.#initializers.push({ name, dims: [...dims], dataType: type, rawData: bytes });
    if (small) this.#constants.set(key, name);
    return name;
  }

  /** Declares a float32 graph input of `dims`. */
  input(name: string, dims: readonly number[]): string {
    this.#names.add(name);
    this.#inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declares `value` a graph output named `name` (through an Identity when the names differ). */
  output(value: string, name: string, dims: readonly number[]): void {
    if (value !== name) {
      this.#names.add(name);
      this.#nodes.push({
        opType: "Identity",
        name: this.fresh(`node:${name}`),
        input: [value],
        output: [name],
      });
    }
    this.#outputs.push(valueInfo(name, dims));
  }

  /** The serialised `ModelProto`. */
  encode(name: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: 8,
      producerName: "restyle",
      opsetImport: [{ domain: "", version: OPSET }],
      graph: {
        name,
        node: this.#nodes,
        initializer: this.#initializers,
        input: this.#inputs,
        output: this.#outputs,
      },
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

function valueInfo(name: string, dims: readonly number[]) {
  return {
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } },
  };
}

const A = onnx.AttributeProto.AttributeType;

function attribute(name: string, value: Attr) {
  if (typeof value === "number") return { name, type: A.INT, i: value };
  if (typeof value === "string") {
    return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  }
  if (Array.isArray(value)) return { name, type: A.INTS, ints: [...value] };
  return { name, type: A.FLOAT, f: (value as FloatAttr).f };
}
