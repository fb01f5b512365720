/**
 * @module Reading a job from a multipart form: images checked before decoding, options validated.
 *
 * Statuses, each naming the field: 415 when the request is not
 * multipart/form-data or a file is not PNG/JPEG/GIF/TIFF (by its first bytes);
 * 400 when an image is cut short or undecodable, or `options` is not JSON;
 * 413 when an image's header claims more pixels than allowed — read from the
 * header, before any decoding; 422 for missing or invalid fields and option
 * values; 404 for an unknown style id.
 */
import { type StylizeOptionsInput, stylizeOptionsSchema } from "../engine/options.ts";
import { decodeImage, ImageDecodeError } from "../image/codec.ts";
import { ImageHeaderError, readImageHeader } from "../image/header.ts";
import type { RgbaImage } from "../image/image.ts";
import type { StyleStore } from "../styles/store.ts";
import type { JobSpec } from "./jobs.ts";
import { fieldProblem, Problem } from "./problem.ts";

/** Limits applied while reading a job. */
export interface UploadLimits {
  /** Largest width × height of any uploaded image (from its header). */
  maxPixels: number;
  /** Most `iterations` a job may ask for. */
  maxIterations: number;
  /** Most style images (ids plus files) in one job. */
  maxStyles: number;
}

const JOB_FIELDS = ["content", "style", "styleImage", "initImage", "options"];

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

/**
 * Decodes one uploaded image after checking its header: format (415), size
 * (413 over `maxPixels`), then the full decode (400 when that fails).
 */
export async function decodeUpload(
  value: FormDataEntryValue,
  field: string,
  maxPixels: number,
): Promise<{ image: RgbaImage; bytes: Uint8Array }> {
  if (typeof value === "string") {
    throw new Problem(422, `${field} must be a file upload (an image), not a text field`, {
      type: "invalid-field",
      errors: [{ field, message: "expected a file" }],
    });
  }
  const bytes = new Uint8Array(await value.arrayBuffer());
  if (bytes.length === 0) {
    throw new Problem(400, `${field} is an empty file`, {
      type: "undecodable-image",
      errors: [{ field, message: "empty file" }],
    });
  }
  let header;
  try {
    header = readImageHeader(bytes);
  } catch (error) {
    if (!(error instanceof ImageHeaderError)) throw error;
    const unsupported = error.reason === "unsupported";
    throw new Problem(
      unsupported ? 415 : 400,
      `${field} (${value.name || "upload"}): ${error.message}` +
        (unsupported ? "; send PNG, JPEG, GIF or TIFF" : ""),
      {
        type: unsupported ? "unsupported-image-type" : "undecodable-image",
        errors: [{ field, message: error.message }],
      },
    );
  }
  const pixels = header.width * header.height;
  if (pixels > maxPixels) {
    throw new Problem(
      413,
      `${field} is ${header.width}x${header.height} (${pixels} pixels); ` +
        `at most ${maxPixels} pixels are allowed`,
      {
        type: "image-too-large",
        errors: [{ field, message: `more than ${maxPixels} pixels` }],
      },
    );
  }
  try {
    return { image: await decodeImage(bytes), bytes };
  } catch (error) {
    if (!(error instanceof ImageDecodeError)) throw error;
    throw new Problem(
      error.unsupported ? 415 : 400,
      `${field} (${value.name || "upload"}): ${error.message}`,
      {
        type: error.unsupported ? "unsupported-image-type" : "undecodable-image",
        errors: [{ field, message: error.message }],
      },
    );
  }
}

/** Parses and validates the `options` field (400 not JSON, 422 invalid values). */
export function readOptions(
  value: FormDataEntryValue | null,
  limits: Pick<UploadLimits, "maxIterations">,
): Promise<StylizeOptionsInput> | StylizeOptionsInput {
  if (value === null) return {};
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
  if (!parsed.success) throw fieldProblem(parsed.error, "options");
  const iterations = (json as StylizeOptionsInput).iterations;
  if (iterations !== undefined && iterations > limits.maxIterations) {
    throw new Problem(
      422,
      `options.iterations: ${iterations} is more than this server allows (${limits.maxIterations})`,
      {
        type: "invalid-field",
        errors: [{
          field: "options.iterations",
          message: `at most ${limits.maxIterations} on this server`,
        }],
      },
    );
  }
  // Keep what the caller wrote: the engine applies the defaults itself.
  return json as StylizeOptionsInput;
}

/**
 * Reads a whole job (content, styles, options) from a `POST /v1/jobs` or `/v1/stylize` body.
 * `admit` runs after the fields and options are checked and before any image is decoded (queue
 * and size limits); each upload is decoded once to check it, and the job keeps only its bytes.
 */
export async function readJobForm(
  request: Request,
  styles: StyleStore,
  limits: UploadLimits,
  admit?: (options: StylizeOptionsInput) => void | Promise<void>,
): Promise<JobSpec> {
  const form = await readForm(request, JOB_FIELDS);
  const options = await readOptions(form.get("options"), limits);
  const contentField = form.get("content");
  if (contentField === null) {
    throw new Problem(422, "content is required: the image (layer) to stylize", {
      type: "invalid-field",
      errors: [{ field: "content", message: "required: a PNG, JPEG, GIF or TIFF file" }],
    });
  }
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
  if (options.styleWeights && options.styleWeights.length !== count) {
    const message = `has ${options.styleWeights.length} weights for ${count} styles`;
    throw new Problem(422, `options.styleWeights ${message}`, {
      type: "invalid-field",
      errors: [{ field: "options.styleWeights", message: `one weight per style (${count})` }],
    });
  }
  await admit?.(options);
  const content = (await decodeUpload(contentField, "content", limits.maxPixels)).bytes;
  const decoded: Uint8Array[] = [];
  for (const id of styleIds) {
    if (typeof id !== "string") {
      throw new Problem(422, "style must be a style id (text); send files as styleImage", {
        type: "invalid-field",
        errors: [{ field: "style", message: "expected a style id, got a file" }],
      });
    }
    decoded.push(await styles.bytes(id.trim()));
  }
  for (const [i, file] of styleFiles.entries()) {
    decoded.push((await decodeUpload(file, `styleImage[${i}]`, limits.maxPixels)).bytes);
  }
  const initField = form.get("initImage");
  if (options.init === "image" && initField === null) {
    throw new Problem(422, 'options.init is "image" but no initImage file was sent', {
      type: "invalid-field",
      errors: [{ field: "initImage", message: 'required when options.init is "image"' }],
    });
  }
  const initImage = initField === null
    ? undefined
    : (await decodeUpload(initField, "initImage", limits.maxPixels)).bytes;
  return { content, styles: decoded, initImage, options };
}
