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

/** Runs the reference on `spec` (written to `specPath`). */
export async function runReference(
  spec: ReferenceSpec,
  specPath: string,
): Promise<ReferenceResult> {
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
