/**
 * @module Decoding, encoding and resizing images with imagescript, to and from {@linkcode RgbaImage}.
 *
 * PNG, JPEG, TIFF and GIF (first frame) decode; WebP is recognised (by `header.ts`,
 * which names every format) and refused with a clear error, since imagescript has
 * no WebP decoder. A JPEG's EXIF orientation is applied.
 */
import { Frame, GIF, Image } from "imagescript";
import { readImageHeader, sniffFormat } from "./header.ts";
import type { RgbaImage } from "./image.ts";
import { applyOrientation } from "./orient.ts";

/** Raised for bytes that are not an image we can decode; `unsupported` marks a known but unreadable format. */
export class ImageDecodeError extends Error {
  /** `message` says what was wrong; `unsupported` marks a known format this build cannot read. */
  constructor(message: string, readonly unsupported = false) {
    super(message);
    this.name = "ImageDecodeError";
  }
}

/**
 * Decodes PNG, JPEG, TIFF or GIF (its first frame) bytes to RGBA pixels; alpha is kept.
 *
 * @example
 * ```ts
 * const cat = await decodeImage(await Deno.readFile("cat.png"));
 * console.log(cat.width, cat.height);
 * ```
 */
export async function decodeImage(bytes: Uint8Array): Promise<RgbaImage> {
  const format = sniffFormat(bytes);
  if (format === "webp") {
    throw new ImageDecodeError("WebP images are not supported; use PNG, JPEG, TIFF or GIF", true);
  }
  if (!format) throw new ImageDecodeError("not a PNG, JPEG, TIFF or GIF image");
  let image: Image;
  try {
    image = format === "gif"
      ? (await GIF.decode(bytes, true))[0] as unknown as Image // a Frame is an Image
      : await Image.decode(bytes);
  } catch (error) {
    throw new ImageDecodeError(`the ${format.toUpperCase()} data could not be decoded: ${error}`);
  }
  if (!image || image.width < 1 || image.height < 1) {
    throw new ImageDecodeError(`the ${format.toUpperCase()} image is empty`);
  }
  const decoded = fromImagescript(image);
  return format === "jpeg" ? applyOrientation(decoded, jpegOrientation(bytes)) : decoded;
}

/** The EXIF orientation a JPEG's header states (1 when none, or when the header is unreadable). */
function jpegOrientation(bytes: Uint8Array): number {
  try {
    return readImageHeader(bytes).orientation ?? 1;
  } catch {
    return 1; // the decoder read it, so the pixels stand as stored
  }
}

function toImagescript(image: RgbaImage): Image {
  const out = new Image(image.width, image.height);
  out.bitmap.set(image.data);
  return out;
}

function fromImagescript(image: Image): RgbaImage {
  return { width: image.width, height: image.height, data: new Uint8Array(image.bitmap) };
}

/**
 * `image` resized to `width` x `height` by nearest neighbour (no crop), as imagescript does.
 *
 * @example
 * ```ts
 * const small = resizeImage(cat, 64, 48);
 * ```
 */
export function resizeImage(image: RgbaImage, width: number, height: number): RgbaImage {
  return fromImagescript(toImagescript(image).resize(width, height, Image.RESIZE_NEAREST_NEIGHBOR));
}

/** Encodes RGBA pixels as a PNG. */
export function encodePng(image: RgbaImage): Promise<Uint8Array> {
  return toImagescript(image).encode(1);
}

/**
 * Encodes same-sized frames as a looping animated GIF.
 *
 * @param frameMs how long each frame shows; the last one stays three times as long.
 */
export function encodeGif(frames: readonly RgbaImage[], frameMs = 200): Promise<Uint8Array> {
  if (frames.length === 0) throw new Error("an animated GIF needs at least one frame");
  const gifFrames = frames.map((frame, i) =>
    Frame.from(toImagescript(frame), i === frames.length - 1 ? frameMs * 3 : frameMs)
  );
  return new GIF(gifFrames, -1).encode(95);
}
