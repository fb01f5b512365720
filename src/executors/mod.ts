/**
 * @module Which executor runs a network: ONNX Runtime when the `onnx` backend was
 * picked and the network is a layer graph, else tfjs on its active backend.
 */
import type { BackendName } from "../backend.ts";
import { layersOf } from "../net/graph.ts";
import type { FeatureNetwork } from "../net/network.ts";
import type { Executor } from "./executor.ts";
import { onnxExecutor } from "./onnx.ts";
import { tfjsExecutor } from "./tfjs.ts";

export type { Evaluation, Executor, HostObjective, Measured, MeasureRequest } from "./executor.ts";
export { onnxExecutor } from "./onnx.ts";
export { tfjsExecutor } from "./tfjs.ts";

/** One ONNX executor per network, so its compiled sessions serve the next job too. */
const onnxExecutors = new WeakMap<FeatureNetwork, Executor>();

/**
 * The executor for `network` on `backend` (the one `initBackend` or `pickBackend`
 * started): ONNX Runtime for `onnx` where the network is a layer graph, tfjs otherwise.
 *
 * @example
 * ```ts
 * const { backend } = await initBackend();
 * const executor = executorFor(backend, await getNetwork("squeezenet"));
 * ```
 */
export function executorFor(backend: BackendName, network: FeatureNetwork): Executor {
  const graph = backend === "onnx" ? layersOf(network) : undefined;
  if (!graph) return tfjsExecutor(network);
  let executor = onnxExecutors.get(network);
  if (!executor) onnxExecutors.set(network, executor = onnxExecutor(graph));
  return executor;
}
