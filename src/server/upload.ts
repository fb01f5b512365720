/**
 * @module Reading a job from a multipart form: images checked before decoding, options validated.
 *
 * Statuses, each naming the field: 415 when the request is not
 * multipart/form-data or a file is not PNG/JPEG/GIF/TIFF (by its first bytes);
 * 400 when an image is cut short or undecodable, or `options` is not JSON;
 * 413 when an image's header claims more pixels than allowed — read from the
 * header (every GIF frame), before any decoding; 422 for missing or invalid
 * fields and option values, and for what the engine's guards refuse (unknown
 * presets or layers, no loss term, an image too small for the layers at its
 * working size, a number of masks that is neither one nor one per style), also
 * before decoding; 404 for an unknown style id. A mask (`mask`, repeated) is an
 * upload like the others, named `mask[0]`, `mask[1]`… in the form's order.
 */
import { ZodError } from "zod";
import { checkInputs, checkRun, type RunImages, type SizedImage } from "../engine/guards.ts";
import { networkOptions } from "../engine/run.ts";
import { type StylizeOptions, stylizeOptionsSchema } from "../engine/options.ts";
import { RENAMED_OPTIONS } from "../engine/option_fields.ts";
import { networkShape } from "../net/shape.ts";
import { decodeImage, ImageDecodeError } from "../image/codec.ts";
import { type ImageHeader, ImageHeaderError, readImageHeader } from "../image/header.ts";
import type { RgbaImage } from "../image/image.ts";
import { StyleError, type StyleStore } from "../styles/store.ts";
import type { JobSpec } from "./jobs.ts";
import { fieldProblem, Problem, styleProblem } from "./problem.ts";

/** Limits applied while reading a job. */
export interface UploadLimits {
  /** Largest width × height of any uploaded image (from its header). */
  maxPixels: number;
  /** Most `iterations` a job may ask for. */
  maxIterations: number;
  /** Most style images (ids plus files) in one job. */
  maxStyles: number;
  /** Largest `maxSize` and largest entry of `scales`, in pixels. */
  maxSize: number;
  /** Most entries in `scales`. */
  maxScales: number;
}

const JOB_FIELDS = ["content", "style", "styleImage", "initImage", "mask", "options"];

/** Parses the request body as multipart form data (415 when it is not). */
export async function readForm(request: Request, fields: string[]): Promise<FormData> {
  const type = request.headers.get("content-type") ?? "";
  if (!/^multipart\/form-data\s*;/i.test(type)) {
    throw new Problem(
      415,
      `expected a multipart/form-data body with the fields ${fields.join(", ")}; ` +
        `got ${type ? `"${type.split(";")[0]}"` : "no Content-Type"}`,
      { type: "unsupported-media-type" },
    );
  }
  let form: FormData;
  try {
    form = await request.formData();
  } catch (error) {
    if (error instanceof Problem) throw error;
    throw new Problem(400, `the multipart body could not be parsed: ${(error as Error).message}`, {
      type: "malformed-body",
    });
  }
  const unknown = [...new Set(form.keys())].filter((key) => !fields.includes(key));
  if (unknown.length) {
    throw new Problem(
      422,
      `unknown field ${unknown.map((k) => `"${k}"`).join(", ")}; allowed: ${fields.join(", ")}`,
      { type: "invalid-field", errors: unknown.map((field) => ({ field, message: "unknown" })) },
    );
  }
  return form;
}

/** An uploaded image whose header has been read and checked, not yet decoded. */
export interface CheckedUpload {
  /** The form field it came in. */
  field: string;
  /** The file name the client gave, or `upload`. */
  name: string;
  bytes: Uint8Array;
  header: ImageHeader;
}

/**
 * Reads one uploaded image's header and checks it, without decoding: a file
 * (422), not empty (400), a known format (415), a readable header (400), and at
 * most `maxPixels` decoded (413; every GIF frame counts).
 */
export async function readUpload(
  value: FormDataEntryValue,
  field: string,
  maxPixels: number,
): Promise<CheckedUpload> {
  if (typeof value === "string") {
    throw new Problem(422, `${field} must be a file upload (an image), not a text field`, {
      type: "invalid-field",
      errors: [{ field, message: "expected a file" }],
    });
  }
  const bytes = new Uint8Array(await value.arrayBuffer());
  const name = value.name || "upload";
  if (bytes.length === 0) {
    throw new Problem(400, `${field} is an empty file`, {
      type: "undecodable-image",
      errors: [{ field, message: "empty file" }],
    });
  }
  let header: ImageHeader;
  try {
    header = readImageHeader(bytes);
  } catch (error) {
    if (!(error instanceof ImageHeaderError)) throw error;
    const unsupported = error.reason === "unsupported";
    throw new Problem(
      unsupported ? 415 : 400,
      `${field} (${name}): ${error.message}` + (unsupported ? "; send PNG, JPEG, GIF or TIFF" : ""),
      {
        type: unsupported ? "unsupported-image-type" : "undecodable-image",
        errors: [{ field, message: error.message }],
      },
    );
  }
  if (header.pixels > maxPixels) {
    const frame = header.pixels > header.width * header.height ? " (its largest frame)" : "";
    throw new Problem(
      413,
      `${field} is ${header.width}x${header.height}${frame}: ${header.pixels} pixels to decode; ` +
        `at most ${maxPixels} pixels are allowed`,
      {
        type: "image-too-large",
        errors: [{ field, message: `more than ${maxPixels} pixels` }],
      },
    );
  }
  return { field, name, bytes, header };
}

/** Decodes an upload whose header {@linkcode readUpload} checked (400 / 415 when that fails). */
export async function decodeChecked(upload: CheckedUpload): Promise<RgbaImage> {
  try {
    return await decodeImage(upload.bytes);
  } catch (error) {
    if (!(error instanceof ImageDecodeError)) throw error;
    throw new Problem(
      error.unsupported ? 415 : 400,
      `${upload.field} (${upload.name}): ${error.message}`,
      {
        type: error.unsupported ? "unsupported-image-type" : "undecodable-image",
        errors: [{ field: upload.field, message: error.message }],
      },
    );
  }
}

/** {@linkcode readUpload}, then {@linkcode decodeChecked}. */
export async function decodeUpload(
  value: FormDataEntryValue,
  field: string,
  maxPixels: number,
): Promise<{ image: RgbaImage; bytes: Uint8Array }> {
  const upload = await readUpload(value, field, maxPixels);
  return { image: await decodeChecked(upload), bytes: upload.bytes };
}

/**
 * Parses and validates the `options` field once (400 not JSON, 422 invalid values, or values
 * beyond this server's limits, defaults included): the result has the schema's defaults, and
 * is what the job and the engine get.
 */
export function readOptions(
  value: FormDataEntryValue | null,
  limits: Pick<UploadLimits, "maxIterations" | "maxSize" | "maxScales">,
): Promise<StylizeOptions> | StylizeOptions {
  if (value === null) return readOptions("", limits);
  if (typeof value !== "string") return value.text().then((text) => readOptions(text, limits));
  let json: unknown;
  try {
    json = value.trim() === "" ? {} : JSON.parse(value);
  } catch (error) {
    throw new Problem(400, `options is not valid JSON: ${(error as Error).message}`, {
      type: "malformed-options",
      errors: [{ field: "options", message: "not valid JSON" }],
    });
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new Problem(422, "options must be a JSON object", {
      type: "invalid-field",
      errors: [{ field: "options", message: "expected a JSON object" }],
    });
  }
  const parsed = stylizeOptionsSchema.safeParse(json);
  if (!parsed.success) {
    throw fieldProblem(
      serverBounds(parsed.error, json as Record<string, unknown>, limits),
      "options",
    );
  }
  noteRenamed(json);
  checkLimits(parsed.data, json, limits);
  return parsed.data;
}

/** A 422 naming `field` (under `options`) and this server's limit it passes. */
function beyondLimit(field: string, message: string): Problem {
  return new Problem(422, `options.${field}: ${message}`, {
    type: "invalid-field",
    errors: [{ field: `options.${field}`, message }],
  });
}

const serves = (value: string, limit: number) =>
  `${value} is more than this server can serve (at most ${limit})`;
const allows = (value: string, limit: number) =>
  `${value} is more than this server allows (at most ${limit})`;
const sizes = (count: number, limit: number) =>
  `at most ${limit} sizes on this server (got ${count})`;

/**
 * The schema's issues, with a bound the schema states replaced by this server's where the
 * server's is lower: a refusal quotes the limit that applies here (`/v1/health`'s).
 */
function serverBounds(
  error: ZodError,
  sent: Record<string, unknown>,
  limits: Pick<UploadLimits, "maxIterations" | "maxSize" | "maxScales">,
): ZodError {
  return new ZodError(error.issues.map((issue) => {
    if (issue.code !== "too_big") return issue;
    const [name, entry] = issue.path;
    const given = sent[String(name)];
    const value = typeof entry === "number" ? (given as unknown[])[entry] : given;
    const bound = (limit: number, message: string) =>
      Number(issue.maximum) > limit ? { ...issue, message } : issue;
    if (name === "iterations") {
      return bound(limits.maxIterations, allows(`${value}`, limits.maxIterations));
    }
    if (name === "maxSize" || (name === "scales" && typeof entry === "number")) {
      return bound(limits.maxSize, serves(`${value}`, limits.maxSize));
    }
    if (name === "scales") {
      return bound(limits.maxScales, sizes((value as unknown[]).length, limits.maxScales));
    }
    return issue;
  }));
}

/**
 * A 422 when parsed options pass what this server serves: iterations, and the sizes the run
 * would use (the scales when given, else maxSize). Defaults count too: the job would run them.
 */
function checkLimits(
  options: StylizeOptions,
  sent: object,
  limits: Pick<UploadLimits, "maxIterations" | "maxSize" | "maxScales">,
): void {
  const value = (name: string, n: number) => name in sent ? `${n}` : `the default, ${n},`;
  if (options.iterations > limits.maxIterations) {
    throw beyondLimit(
      "iterations",
      allows(value("iterations", options.iterations), limits.maxIterations),
    );
  }
  if (options.scales === undefined && options.maxSize > limits.maxSize) {
    throw beyondLimit("maxSize", serves(value("maxSize", options.maxSize), limits.maxSize));
  }
  const scales = options.scales ?? [];
  if (scales.length > limits.maxScales) {
    throw beyondLimit("scales", sizes(scales.length, limits.maxScales));
  }
  scales.forEach((size, i) => {
    if (size > limits.maxSize) throw beyondLimit(`scales.${i}`, serves(`${size}`, limits.maxSize));
  });
}

const noted = new Set<string>();

/** Says once per server process, in its log, that a client still sends an option's old name. */
function noteRenamed(options: object): void {
  for (const [old, now] of Object.entries(RENAMED_OPTIONS)) {
    if (!(old in options) || noted.has(old)) continue;
    noted.add(old);
    console.warn(
      `restyle: a client sent options.${old}, the deprecated old name of options.${now}; ` +
        "it still works (read as that)",
    );
  }
}

/**
 * Reads a whole job (content, styles, masks, options) from a `POST /v1/jobs` or `/v1/stylize`
 * body. The styles are the `style` ids in their order, then the `styleImage` files in theirs;
 * the `mask` files pair with them in that order (or one mask serves them all). `admit` runs
 * after the fields and options are checked and before any image is decoded (queue and size
 * limits); each upload is decoded once to check it, and the job keeps only its bytes.
 */
export async function readJobForm(
  request: Request,
  styles: StyleStore,
  limits: UploadLimits,
  admit?: (options: StylizeOptions) => void | Promise<void>,
): Promise<JobSpec> {
  const form = await readForm(request, JOB_FIELDS);
  const contentField = form.get("content");
  if (contentField === null) {
    throw new Problem(422, "content is required: the image (layer) to stylize", {
      type: "invalid-field",
      errors: [{ field: "content", message: "required: a PNG, JPEG, GIF or TIFF file" }],
    });
  }
  const options = await readOptions(form.get("options"), limits);
  const styleIds = form.getAll("style");
  const styleFiles = form.getAll("styleImage");
  const count = styleIds.length + styleFiles.length;
  if (count === 0 || count > limits.maxStyles) {
    const message = count === 0
      ? "at least one style id or styleImage file is required"
      : `at most ${limits.maxStyles} styles per job (got ${count})`;
    throw new Problem(422, message, {
      type: "invalid-field",
      errors: [{ field: "style", message }],
    });
  }
  const initField = form.get("initImage");
  const maskFields = form.getAll("mask");
  withFieldProblem(() =>
    checkInputs(options, {
      styles: count,
      initImage: initField !== null,
      masks: maskFields.length,
    })
  );
  // Every header first, then the guards, then the queue's admission, then the decoding.
  const content = await readUpload(contentField, "content", limits.maxPixels);
  const styleSizes: SizedImage[] = [];
  for (const [i, id] of styleIds.entries()) {
    if (typeof id !== "string") {
      throw new Problem(422, "style must be a style id (text); send files as styleImage", {
        type: "invalid-field",
        errors: [{ field: "style", message: "expected a style id, got a file" }],
      });
    }
    const field = `style[${i}]`;
    styleSizes.push({ field, ...await withField(styles.size(id.trim()), field) });
  }
  const styleUploads: CheckedUpload[] = [];
  for (const [i, file] of styleFiles.entries()) {
    const upload = await readUpload(file, `styleImage[${i}]`, limits.maxPixels);
    styleUploads.push(upload);
    styleSizes.push({ field: upload.field, ...upload.header });
  }
  const init = initField === null
    ? undefined
    : await readUpload(initField, "initImage", limits.maxPixels);
  // A mask may have any size (the engine scales it to the content's): only its header is checked.
  const masks: CheckedUpload[] = [];
  for (const [i, file] of maskFields.entries()) {
    masks.push(await readUpload(file, `mask[${i}]`, limits.maxPixels));
  }
  await checkAgainstNetwork(options, {
    content: { field: "content", ...content.header },
    styles: styleSizes,
  }, limits);
  await admit?.(options);

  // Each upload is decoded once here, so a broken one is a 400 now rather than a failed job;
  // the job keeps only the bytes, and the engine decodes them when it starts.
  const uploads = [content, ...styleUploads, ...(init ? [init] : []), ...masks];
  for (const upload of uploads) await decodeChecked(upload);
  const styleBytes: Uint8Array[] = [];
  for (const id of styleIds) styleBytes.push(await styles.bytes((id as string).trim()));
  for (const upload of styleUploads) styleBytes.push(upload.bytes);
  return {
    content: content.bytes,
    styles: styleBytes,
    initImage: init?.bytes,
    ...(masks.length ? { masks: masks.map((m) => m.bytes) } : {}),
    options,
  };
}

/**
 * The engine's guards ({@linkcode checkRun}) against the network's layer graph,
 * read from its `weights.json`: unknown presets or layers, no loss term, images
 * too small or thin for the layers at the sizes this server serves — a 422 naming
 * the field, before anything is decoded or queued. Skipped when the weights are
 * missing (the route's 503).
 */
async function checkAgainstNetwork(
  parsed: StylizeOptions,
  images: RunImages,
  limits: Pick<UploadLimits, "maxSize">,
) {
  const network = await networkShape(parsed.network, networkOptions(parsed).padding);
  if (!network) return;
  withFieldProblem(() => checkRun(network, parsed, images, { maxSize: limits.maxSize }));
}

/** Runs an engine guard; its ZodError becomes a 422 naming the fields. */
function withFieldProblem(check: () => unknown): void {
  try {
    check();
  } catch (error) {
    throw error instanceof ZodError ? fieldProblem(error) : error;
  }
}

/** `promise`, with the style store's refusal as a Problem naming `field`. */
async function withField<T>(promise: Promise<T>, field: string): Promise<T> {
  try {
    return await promise;
  } catch (error) {
    throw error instanceof StyleError ? styleProblem(error, field) : error;
  }
}
