/**
 * Experiment 2 of the reference post: recreate the STYLE from noise with the
 * style loss alone (content weight 0): the painting's texture and palette grow
 * without any of its layout. The content image only sets the output size.
 *
 * ```sh
 * RESTYLE_MIRROR=../shared deno run -A examples/recreate_style.ts [content] [style] [out-dir] [--max-size PX] [--iterations N] [--preview-every K]
 * ```
 * Defaults: `$RESTYLE_MIRROR/images/cat.png`, `.../starry-night.jpg`, a new temporary directory.
 */
import { runExperiment } from "./_experiment.ts";

await runExperiment("recreate-style", { contentWeight: 0 });
