/**
 * @module Restyle: neural style transfer (Gatys et al.) on TensorFlow.js, for image editors.
 *
 * The engine is an async generator: each step carries the iteration's losses
 * and, every `previewEvery` iterations, a preview image at the content's size
 * with its alpha re-applied.
 *
 * @example Stylize a file with a painting
 * ```ts
 * import { decodeImage, encodePng, initBackend, stylize } from "./mod.ts";
 *
 * await initBackend();
 * const content = await decodeImage(await Deno.readFile("photo.png"));
 * const style = await decodeImage(await Deno.readFile("starry-night.jpg"));
 * for await (const step of stylize({ content, styles: [style], options: { iterations: 50 } })) {
 *   console.log(step.iteration, step.losses.total);
 *   if (step.image) await Deno.writeFile("out.png", await encodePng(step.image));
 * }
 * ```
 *
 * @example Serve the HTTP API the editor plug-ins use
 * ```ts
 * import { startServer } from "./mod.ts";
 *
 * const server = await startServer({ port: 8787 });
 * ```
 */

// `deno task check` runs `deno doc --lint` on this file through tests/doc_lint.ts, which passes
// only deno 2.9's false "private type" reports on npm types (denoland/deno#27364).

export {
  type Losses,
  stylize,
  type StylizeInput,
  type StylizeStep,
  type TileProgress,
} from "./src/engine/stylize.ts";
export {
  DEFAULT_OPTIONS,
  MAX_ITERATIONS,
  MAX_SIZE,
  type StylizeOptions,
  type StylizeOptionsInput,
  stylizeOptionsSchema,
} from "./src/engine/options.ts";
export {
  type FeatureNetwork,
  type LayerWeights,
  NETWORK_IDS,
  type NetworkId,
  type Preset,
} from "./src/net/network.ts";
export { PRESETS } from "./src/net/presets.ts";
export {
  getNetwork,
  loadNetwork,
  type LoadOptions,
  networkReady,
  type PadMode,
  type Pooling,
} from "./src/net/load.ts";
export type { GraphNetwork } from "./src/net/graph.ts";
export { classify, type Prediction } from "./src/net/classify.ts";
export { type BackendInfo, type BackendName, initBackend } from "./src/backend.ts";
export {
  type Evaluation,
  type Executor,
  executorFor,
  type HostObjective,
  type Measured,
  type MeasureRequest,
} from "./src/executors/mod.ts";
export type {
  ContentTerm,
  Features,
  Grams,
  LayerScales,
  LossDescription,
  Mask,
  RegionMask,
  StageTargets,
  StyleSeedTerm,
  StyleTarget,
  StyleTerm,
  Term,
  TvTerm,
} from "./src/loss/terms.ts";
export { setFastBackward } from "./src/ops/fast_backward.ts";
export type { RgbaImage } from "./src/image/image.ts";
export { decodeImage, encodeGif, encodePng, ImageDecodeError } from "./src/image/codec.ts";
export { type InstallOptions, type InstallResult, installWeights } from "./src/weights/install.ts";
export type { NetworkSources, RawTensor, WeightsManifest } from "./src/weights/manifest.ts";
export type { FetchProgress, SourceFile } from "./src/fetch.ts";
export { type AppOptions, createApp, type RestyleApp } from "./src/server/app.ts";
export type {
  Job,
  JobEvent,
  JobQueue,
  JobQueueOptions,
  JobRunner,
  JobSpec,
  JobStatus,
  RunnerStep,
  RunnerTile,
} from "./src/server/jobs.ts";
export type { FieldError, ProblemBody } from "./src/server/problem.ts";
export {
  StyleError,
  type StyleErrorReason,
  type StyleInfo,
  type StyleStore,
  type StyleStoreOptions,
} from "./src/styles/store.ts";
export type { CatalogueStyle } from "./src/styles/catalogue.ts";
export { type RunningServer, type ServeOptions, startServer } from "./src/server/serve.ts";
export {
  type EngineOptions,
  type EngineState,
  type EngineStatus,
  EngineWorker,
  type WorkerStats,
} from "./src/server/worker.ts";
