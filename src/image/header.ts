/**
 * @module Image size from the file header, before any decoding.
 *
 * The server refuses an image whose pixel count is over its limit without
 * decoding it: a 60 KB PNG can claim 100000x100000 pixels and would need 40 GB
 * once decoded. These readers look only at the first bytes (TIFF: its first
 * directory; JPEG: the segments before the frame, for the EXIF orientation) of
 * PNG, JPEG, GIF, WebP and TIFF files; GIF's blocks are walked to the end, since
 * each frame states its own size and a 1x1 canvas can hold a 20000x20000 frame.
 */

/** Image formats Restyle accepts. */
export type ImageFormat = "png" | "jpeg" | "gif" | "webp" | "tiff";

/** What the header says. */
export interface ImageHeader {
  format: ImageFormat;
  /** Width of the image as decoded and shown (after any EXIF orientation). */
  width: number;
  /** Height of the image as decoded and shown (after any EXIF orientation). */
  height: number;
  /**
   * The most pixels decoding allocates at once: `width * height`, or more when a
   * GIF frame is larger than its canvas. Limits apply to this, not to the canvas.
   */
  pixels: number;
  /** JPEG EXIF orientation (2..8) when it is not the stored one; `decodeImage` applies it. */
  orientation?: number;
}

/** MIME type of each accepted format. */
export const IMAGE_MIME_TYPES: Readonly<Record<ImageFormat, string>> = {
  png: "image/png",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  tiff: "image/tiff",
};

/** Why a header could not be read. `unsupported`: not one of the formats; `truncated`: cut short. */
export class ImageHeaderError extends Error {
  constructor(readonly reason: "unsupported" | "truncated" | "invalid", message: string) {
    super(message);
    this.name = "ImageHeaderError";
  }
}

/** Which format the first bytes announce, or `undefined`. */
export function sniffFormat(bytes: Uint8Array): ImageFormat | undefined {
  const starts = (...sig: number[]) => sig.every((b, i) => bytes[i] === b);
  if (starts(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return "png";
  if (starts(0xff, 0xd8, 0xff)) return "jpeg";
  if (starts(0x47, 0x49, 0x46, 0x38) && (bytes[4] === 0x37 || bytes[4] === 0x39)) return "gif";
  if (starts(0x52, 0x49, 0x46, 0x46) && ascii(bytes, 8, 4) === "WEBP") return "webp";
  if (starts(0x49, 0x49, 0x2a, 0x00) || starts(0x4d, 0x4d, 0x00, 0x2a)) return "tiff";
  return undefined;
}

/**
 * Reads the format, width and height from an image file's header.
 *
 * @throws {ImageHeaderError} when the bytes are not a supported image or are cut short.
 * @example
 * ```ts
 * const { format, width, height } = readImageHeader(await Deno.readFile("cat.png"));
 * ```
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader {
  const format = sniffFormat(bytes);
  if (!format) {
    throw new ImageHeaderError("unsupported", "not a PNG, JPEG, GIF, WebP or TIFF image");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = (() => {
    try {
      return READERS[format](bytes, view);
    } catch (error) {
      if (error instanceof RangeError) return undefined; // DataView read past the end
      throw error;
    }
  })();
  if (!size) throw new ImageHeaderError("truncated", `${format} header is cut short`);
  if (!(size.width > 0 && size.height > 0)) {
    throw new ImageHeaderError("invalid", `${format} header gives ${size.width}x${size.height}`);
  }
  const { width, height, largest = width * height, orientation = 1 } = size;
  const turned = orientation >= 5; // 5..8 swap width and height
  return {
    format,
    width: turned ? height : width,
    height: turned ? width : height,
    pixels: Math.max(largest, width * height),
    ...(orientation !== 1 ? { orientation } : {}),
  };
}

type Size = {
  width: number;
  height: number;
  /** Largest frame, in pixels, when larger than the canvas. */
  largest?: number;
  orientation?: number;
} | undefined;

const READERS: Record<ImageFormat, (bytes: Uint8Array, view: DataView) => Size> = {
  png(bytes, view) {
    // Signature, then the IHDR chunk: length, "IHDR", width, height (big-endian).
    if (ascii(bytes, 12, 4) !== "IHDR") return undefined;
    return { width: view.getUint32(16), height: view.getUint32(20) };
  },
  gif: readGif,
  jpeg(bytes, view) {
    let at = 2;
    let orientation: number | undefined;
    while (at + 4 <= bytes.length) {
      if (bytes[at] !== 0xff) return undefined;
      const marker = bytes[at + 1];
      if (marker === 0xff) { // fill byte
        at += 1;
        continue;
      }
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) { // no length field
        at += 2;
        continue;
      }
      // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
      if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) {
        return { height: view.getUint16(at + 5), width: view.getUint16(at + 7), orientation };
      }
      if (marker === 0xd9 || marker === 0xda) return undefined; // end / scan before any frame
      const length = view.getUint16(at + 2);
      if (marker === 0xe1 && orientation === undefined) {
        orientation = exifOrientation(bytes.subarray(at + 4, at + 2 + length));
      }
      at += 2 + length;
    }
    return undefined;
  },
  webp(bytes, view) {
    const chunk = ascii(bytes, 12, 4);
    if (chunk === "VP8 ") {
      // Frame tag (3 bytes), start code 9d 01 2a, then 14-bit width and height.
      if (bytes[23] !== 0x9d || bytes[24] !== 0x01 || bytes[25] !== 0x2a) return undefined;
      return {
        width: view.getUint16(26, true) & 0x3fff,
        height: view.getUint16(28, true) & 0x3fff,
      };
    }
    if (chunk === "VP8L") {
      if (bytes[20] !== 0x2f) return undefined;
      const bits = view.getUint32(21, true);
      return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1 };
    }
    if (chunk === "VP8X") {
      const u24 = (at: number) => bytes[at] | (bytes[at + 1] << 8) | (bytes[at + 2] << 16);
      if (bytes.length < 30) return undefined;
      return { width: u24(24) + 1, height: u24(27) + 1 };
    }
    return undefined;
  },
  tiff(bytes, view) {
    const little = bytes[0] === 0x49;
    const ifd = view.getUint32(4, little);
    const count = view.getUint16(ifd, little);
    let width: number | undefined;
    let height: number | undefined;
    for (let i = 0; i < count; i++) {
      const entry = ifd + 2 + i * 12;
      const tag = view.getUint16(entry, little);
      if (tag !== 256 && tag !== 257) continue;
      const type = view.getUint16(entry + 2, little);
      const value = type === 3
        ? view.getUint16(entry + 8, little)
        : type === 4
        ? view.getUint32(entry + 8, little)
        : undefined;
      if (tag === 256) width = value;
      else height = value;
    }
    return width === undefined || height === undefined ? undefined : { width, height };
  },
};

function ascii(bytes: Uint8Array, at: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(at, at + length));
}

/**
 * The Orientation tag (0x0112) of an APP1 Exif segment's first directory, or
 * `undefined` when the segment is not Exif or has none. Values outside 1..8 are ignored.
 */
function exifOrientation(segment: Uint8Array): number | undefined {
  if (ascii(segment, 0, 6) !== "Exif\0\0") return undefined;
  const tiff = segment.subarray(6);
  const view = new DataView(tiff.buffer, tiff.byteOffset, tiff.byteLength);
  try {
    const little = tiff[0] === 0x49;
    if (view.getUint16(2, little) !== 42) return undefined;
    const ifd = view.getUint32(4, little);
    const count = view.getUint16(ifd, little);
    for (let i = 0; i < count; i++) {
      const entry = ifd + 2 + i * 12;
      if (view.getUint16(entry, little) !== 0x0112) continue;
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : undefined;
    }
  } catch (error) {
    if (!(error instanceof RangeError)) throw error; // a cut-short segment: no orientation
  }
  return undefined;
}

/**
 * A GIF's canvas, after walking every block: each frame (image descriptor) must
 * lie inside the canvas, and the largest frame is reported, since the decoder
 * allocates each frame at its own size. Cut short before the first frame: `undefined`.
 */
function readGif(bytes: Uint8Array, view: DataView): Size {
  const width = view.getUint16(6, true);
  const height = view.getUint16(8, true);
  const packed = view.getUint8(10);
  let at = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 7) + 1) : 0);
  let largest = 0;
  let frames = 0;
  /** Skips data sub-blocks (length byte, data) up to the 0 terminator. */
  const skipSubBlocks = () => {
    while (at < bytes.length && bytes[at] !== 0) at += 1 + bytes[at];
    at += 1;
  };
  while (at < bytes.length) {
    const block = bytes[at];
    if (block === 0x3b) break; // trailer
    if (block === 0x21) { // extension: label, then sub-blocks
      at += 2;
      skipSubBlocks();
    } else if (block === 0x2c) { // image descriptor
      if (at + 10 > bytes.length) break;
      const [x, y] = [view.getUint16(at + 1, true), view.getUint16(at + 3, true)];
      const [w, h] = [view.getUint16(at + 5, true), view.getUint16(at + 7, true)];
      frames += 1;
      if (x + w > width || y + h > height) {
        throw new ImageHeaderError(
          "invalid",
          `gif frame ${frames} (${w}x${h} at ${x},${y}) lies outside its ${width}x${height} canvas`,
        );
      }
      largest = Math.max(largest, w * h);
      const local = view.getUint8(at + 9);
      at += 10 + (local & 0x80 ? 3 * 2 ** ((local & 7) + 1) : 0) + 1; // + LZW code size
      skipSubBlocks();
    } else {
      throw new ImageHeaderError("invalid", `gif block 0x${block.toString(16)} at byte ${at}`);
    }
  }
  if (frames === 0) return undefined;
  return { width, height, largest };
}
