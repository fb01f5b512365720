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
  /** The stride-2 pools' kind and the convolutions' padding (default max, zero). */
  pooling?: string;
  padding?: string;
  /** `[height, width]` of each image, when not `size` × `size`. */
  shapes?: { x: [number, number]; content: [number, number]; style: [number, number] };
  /** Time one evaluation per request instead of a fixed count ({@linkcode ReferenceProcess}). */
  serve?: boolean;
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

/**
 * The reference kept running, one timed evaluation per {@linkcode evaluate} call, so
 * that the bench can interleave it with Restyle's (A B A B …): machine noise then
 * hits both alike. Its threads sleep between requests.
 */
export class ReferenceProcess {
  readonly #child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  readonly #lines: AsyncIterator<string>;
  /** The reference's loss at the bench's image, its threads and torch version. */
  readonly ready: { loss: number; threads: number; torch: string };

  private constructor(
    child: Deno.ChildProcess,
    lines: AsyncIterator<string>,
    ready: ReferenceProcess["ready"],
  ) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#lines = lines;
    this.ready = ready;
  }

  /** Starts the reference on `spec` (written to `specPath`) and waits for its warm-up. */
  static async start(spec: ReferenceSpec, specPath: string): Promise<ReferenceProcess> {
    await Deno.writeTextFile(specPath, JSON.stringify({ ...spec, serve: true }));
    const child = new Deno.Command(PYTHON, {
      args: [SCRIPT, specPath],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = readLines(child.stdout);
    const first = await lines.next();
    if (first.done) {
      await child.status;
      throw new Error(`PyTorch reference failed: ${(await stderr).trim()}`);
    }
    return new ReferenceProcess(child, lines, JSON.parse(first.value));
  }

  /** Milliseconds of one loss + gradient evaluation. */
  async evaluate(): Promise<number> {
    await this.#writer.write(new TextEncoder().encode("eval\n"));
    const line = await this.#lines.next();
    if (line.done) throw new Error("the PyTorch reference exited");
    return JSON.parse(line.value).ms;
  }

  /** Ends the process. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}

async function* readLines(stream: ReadableStream<BufferSource>): AsyncGenerator<string> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    let newline;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) yield line;
    }
  }
}
