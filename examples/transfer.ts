/**
 * Experiment 3 of the reference post: the full transfer — content and style
 * losses together, optimised from noise — writing every preview as a frame.
 *
 * ```sh
 * RESTYLE_MIRROR=../shared deno run -A examples/transfer.ts [content] [style] [out-dir] [--max-size PX] [--iterations N] [--preview-every K]
 * ```
 * Defaults: `$RESTYLE_MIRROR/images/cat.png`, `.../starry-night.jpg`, a new temporary directory.
 */
import { runExperiment } from "./_experiment.ts";

await runExperiment("transfer", {});
