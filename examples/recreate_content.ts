/**
 * Experiment 1 of the reference post: recreate the CONTENT image from noise with
 * the content loss alone (style weight 0). The frames show what the content layer
 * keeps of the photo: shapes and edges survive, exact colours do not.
 *
 * ```sh
 * RESTYLE_MIRROR=../shared deno run -A examples/recreate_content.ts [content] [style] [out-dir] [--max-size PX] [--iterations N] [--preview-every K]
 * ```
 * Defaults: `$RESTYLE_MIRROR/images/cat.png`, `.../starry-night.jpg`, a new temporary directory.
 */
import { runExperiment } from "./_experiment.ts";

await runExperiment("recreate-content", { styleWeight: 0, tvWeight: 0 });
