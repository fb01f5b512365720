/**
 * @module The PyTorch reference (`bench/reference/gatys.py`) as a subprocess.
 *
 * It reads the same weights and the same preprocessed images as Restyle's
 * evaluation and prints its median time and loss. Debian's `python3-torch` is
 * used through `/usr/bin/python3` (a pyenv `python3` may shadow it on PATH).
 */

const PYTHON = "/usr/bin/python3";
const SCRIPT = new URL("./reference/gatys.py", import.meta.url).pathname;

/** What the reference needs: the loss set-up, the weights and the three images. */
export interface ReferenceSpec {
  network: string;
  weights: string;
  size: number;
  repeat: number;
  inputs: { x: string; content: string; style: string };
  contentLayers: Record<string, number>;
  styleLayers: Record<string, number>;
  contentWeight: number;
  styleWeight: number;
  tvWeight: number;
  normalize: boolean;
  /** `[height, width]` of each image, when not `size` × `size`. */
  shapes?: { x: [number, number]; content: [number, number]; style: [number, number] };
  /** Minimise with SciPy's L-BFGS-B instead of timing (see the script's docstring). */
  optimize?: { maxfun: number; m: number; lower: number[]; upper: number[] };
}

/** The reference's answer. */
export interface ReferenceResult {
  ms: number;
  loss: number;
  threads: number;
  torch: string;
}

/** `null` with the reason when PyTorch is not installed, else its version. */
export async function referenceAvailable(): Promise<{ torch: string } | { missing: string }> {
  try {
    const { success, stdout, stderr } = await new Deno.Command(PYTHON, {
      args: ["-c", "import torch; print(torch.__version__)"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (success) return { torch: new TextDecoder().decode(stdout).trim() };
    const reason = new TextDecoder().decode(stderr).trim().split("\n").at(-1);
    return { missing: `${PYTHON} cannot import torch (${reason}); apt-get install python3-torch` };
  } catch (error) {
    return { missing: `${PYTHON} not found (${(error as Error).message})` };
  }
}

/** What the reference prints with `optimize`: the loss at every evaluation, in order. */
export interface ReferenceOptimizeResult {
  losses: number[];
  nit: number;
  nfev: number;
  message: string;
  scipy: string;
  torch: string;
}

/** Runs the reference on `spec` (written to `specPath`). */
export async function runReference<
  R = ReferenceResult,
>(spec: ReferenceSpec, specPath: string): Promise<R> {
  await Deno.writeTextFile(specPath, JSON.stringify(spec));
  const { success, stdout, stderr } = await new Deno.Command(PYTHON, {
    args: [SCRIPT, specPath],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`PyTorch reference failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
  const lines = new TextDecoder().decode(stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!);
}
