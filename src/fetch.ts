/**
 * @module Fetching files whose size and checksum are known in advance.
 *
 * A file comes either from a local mirror (`<mirror>/<mirrorPrefix>/<path>`,
 * copied) or from its public URLs (downloaded, the next URL tried when one
 * fails). Every file is verified by size and checksum before it counts as
 * fetched; a file already in place that verifies is not fetched again. The
 * weights and the style catalogue both fetch their files this way.
 */
import { createHash } from "node:crypto";

/** One file to fetch: where it goes, what it must be, where it comes from. */
export interface SourceFile {
  /** Path relative to `dest` (and to the mirror prefix). */
  path: string;
  /** Size in bytes. */
  size: number;
  /** Hex sha256; `null` when unknown (then `md5` must be given). */
  sha256?: string | null;
  /** Hex md5, for upstream files that only publish one. */
  md5?: string;
  /** Public download URLs, tried in order. */
  urls: string[];
}

/** Progress of a fetch, in bytes over all files. */
export interface FetchProgress {
  /** The file being fetched. */
  path: string;
  /** Bytes of all files in place so far (verified or being written). */
  bytesDone: number;
  /** Total bytes of all files. */
  bytesTotal: number;
  /** Files completed so far. */
  filesDone: number;
  /** Number of files. */
  filesTotal: number;
}

/** Where files come from and go to. */
export interface FetchOptions {
  /** Local mirror root to copy from instead of downloading. */
  mirror?: string;
  /** Directory under the mirror holding these files, e.g. `weights/squeezenet`. */
  mirrorPrefix: string;
  /** Directory the files are written to (created when missing). */
  dest: string;
  /** The command that fixes a failure, quoted in error messages. */
  fixCommand?: string;
  /** Called as bytes arrive. */
  onProgress?: (progress: FetchProgress) => void;
  /** Parallel downloads (mirror copies run one at a time). Default 4. */
  concurrency?: number;
}

/** A file that could not be fetched or did not verify. */
export class FetchError extends Error {
  constructor(message: string, readonly path: string) {
    super(message);
    this.name = "FetchError";
  }
}

/** What is wrong with `file` on disk at `target`, or `undefined` when it verifies. */
export async function verifyFile(target: string, file: SourceFile): Promise<string | undefined> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(target);
  } catch {
    return "missing";
  }
  if (stat.size !== file.size) return `size ${stat.size} bytes, expected ${file.size}`;
  const { algorithm, expected } = checksumOf(file);
  const actual = await hashFile(target, algorithm);
  if (actual !== expected) return `${algorithm} ${actual}, expected ${expected}`;
  return undefined;
}

function checksumOf(file: SourceFile): { algorithm: "sha256" | "md5"; expected: string } {
  if (file.sha256) return { algorithm: "sha256", expected: file.sha256.toLowerCase() };
  if (file.md5) return { algorithm: "md5", expected: file.md5.toLowerCase() };
  throw new Error(`${file.path}: the manifest gives no checksum (sha256 or md5)`);
}

/** Hex digest of a file, read in chunks. */
export async function hashFile(path: string, algorithm: "sha256" | "md5"): Promise<string> {
  const hash = createHash(algorithm);
  using handle = await Deno.open(path, { read: true });
  for await (const chunk of handle.readable) hash.update(chunk);
  return hash.digest("hex");
}

/**
 * Makes every file of `files` present and verified under `options.dest`.
 *
 * Throws a {@link FetchError} naming the first file that is missing from the
 * mirror, cannot be downloaded, or does not match its size and checksum.
 */
export async function fetchVerified(files: SourceFile[], options: FetchOptions): Promise<void> {
  const bytesTotal = files.reduce((sum, f) => sum + f.size, 0);
  let bytesDone = 0;
  let filesDone = 0;
  const report = (path: string) =>
    options.onProgress?.({
      path,
      bytesDone,
      bytesTotal,
      filesDone,
      filesTotal: files.length,
    });

  const fetchOne = async (file: SourceFile) => {
    const target = `${options.dest}/${file.path}`;
    if (await verifyFile(target, file) === undefined) {
      bytesDone += file.size;
    } else {
      await Deno.mkdir(dirname(target), { recursive: true });
      const partial = `${target}.part`;
      let written = 0;
      const onBytes = (n: number) => {
        written += n;
        bytesDone += n;
        report(file.path);
      };
      try {
        if (options.mirror) await copyFromMirror(file, options, partial, onBytes);
        else await download(file, options, partial, onBytes);
      } finally {
        bytesDone += file.size - written; // count the file as handled either way
      }
      const problem = await verifyFile(partial, file);
      if (problem) {
        await Deno.remove(partial).catch(() => {});
        throw new FetchError(
          `${sourceName(file, options)} does not verify (${problem}). ${fixHint(options)}`,
          file.path,
        );
      }
      await Deno.rename(partial, target);
    }
    filesDone++;
    report(file.path);
  };

  const queue = [...files];
  const workers = options.mirror ? 1 : Math.max(1, options.concurrency ?? 4);
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (let file = queue.shift(); file; file = queue.shift()) await fetchOne(file);
    }),
  );
}

function sourceName(file: SourceFile, options: FetchOptions): string {
  return options.mirror ? mirrorPath(file, options) : file.path;
}

function mirrorPath(file: SourceFile, options: FetchOptions): string {
  return `${options.mirror}/${options.mirrorPrefix}/${file.path}`;
}

function fixHint(options: FetchOptions): string {
  const then = options.fixCommand ? `, then run \`${options.fixCommand}\`` : "";
  return options.mirror
    ? `Put a good copy there (or unset RESTYLE_MIRROR / drop --from to download it)${then}.`
    : `Check the network connection${then} again.`;
}

async function copyFromMirror(
  file: SourceFile,
  options: FetchOptions,
  target: string,
  onBytes: (n: number) => void,
): Promise<void> {
  const source = mirrorPath(file, options);
  let input: Deno.FsFile;
  try {
    input = await Deno.open(source, { read: true });
  } catch {
    throw new FetchError(
      `${source} is missing from the mirror ${options.mirror}. ${fixHint(options)}`,
      file.path,
    );
  }
  await writeStream(input.readable, target, onBytes);
}

async function download(
  file: SourceFile,
  options: FetchOptions,
  target: string,
  onBytes: (n: number) => void,
): Promise<void> {
  const failures: string[] = [];
  for (const url of file.urls) {
    try {
      const response = await fetch(url);
      if (!response.ok || !response.body) {
        await response.body?.cancel();
        failures.push(`${url}: HTTP ${response.status}`);
        continue;
      }
      await writeStream(response.body, target, onBytes);
      return;
    } catch (error) {
      failures.push(`${url}: ${(error as Error).message}`);
    }
  }
  throw new FetchError(
    `could not download ${file.path} (${failures.join("; ") || "no URL"}). ${fixHint(options)}`,
    file.path,
  );
}

async function writeStream(
  stream: ReadableStream<Uint8Array>,
  target: string,
  onBytes: (n: number) => void,
): Promise<void> {
  const output = await Deno.open(target, { write: true, create: true, truncate: true });
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      onBytes(chunk.byteLength);
      controller.enqueue(chunk);
    },
  });
  await stream.pipeThrough(counter).pipeTo(output.writable);
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "." : path.slice(0, i);
}
