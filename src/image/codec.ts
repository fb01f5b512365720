/**
 * @module Decoding and encoding image files (imagescript) to and from {@linkcode RgbaImage}.
 *
 * PNG, JPEG, TIFF and GIF (first frame) decode; WebP is recognised and refused
 * with a clear error, since imagescript has no WebP decoder.
 */
import { Frame, GIF, Image, ImageType } from "imagescript";
import type { RgbaImage } from "./image.ts";

/** Formats {@linkcode decodeImage} reads. */
export type ImageFormat = "png" | "jpeg" | "tiff" | "gif";

/** Raised for bytes that are not an image we can decode; `unsupported` marks a known but unreadable format. */
export class ImageDecodeError extends Error {
  /** `message` says what was wrong; `unsupported` marks a known format this build cannot read. */
  constructor(message: string, readonly unsupported = false) {
    super(message);
    this.name = "ImageDecodeError";
  }
}

function isWebP(bytes: Uint8Array): boolean {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  return bytes.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WEBP";
}

/** The format of `bytes` from its magic number, or `null` when not one we decode. */
export function imageFormat(bytes: Uint8Array): ImageFormat | null {
  return ImageType.getType(bytes) as ImageFormat | null;
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
  const format = imageFormat(bytes);
  if (!format) {
    throw isWebP(bytes)
      ? new ImageDecodeError("WebP images are not supported; use PNG, JPEG, TIFF or GIF", true)
      : new ImageDecodeError("not a PNG, JPEG, TIFF or GIF image");
  }
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
  return { width: image.width, height: image.height, data: new Uint8Array(image.bitmap) };
}

function toImagescript(image: RgbaImage): Image {
  const out = new Image(image.width, image.height);
  out.bitmap.set(image.data);
  return out;
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

/** Width and height read from a PNG, GIF or JPEG header without decoding; `null` when unknown. */
export function imageDimensions(bytes: Uint8Array): { width: number; height: number } | null {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const format = imageFormat(bytes);
  if (format === "png" && bytes.length >= 24) {
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (format === "gif" && bytes.length >= 10) {
    return { width: view.getUint16(6, true), height: view.getUint16(8, true) };
  }
  if (format === "jpeg") {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return null;
      const marker = bytes[i + 1];
      const length = view.getUint16(i + 2);
      // SOF0..SOF15 carry the frame size, except DHT (C4), JPG (C8) and DAC (CC).
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { height: view.getUint16(i + 5), width: view.getUint16(i + 7) };
      }
      i += 2 + length;
    }
  }
  return null;
}
