/**
 * @module A labelled contact sheet: the photos down the left, the paintings
 * across the top, each rendered cell where they meet, with a caption.
 */
import { Image } from "imagescript";
import type { RgbaImage } from "../../src/image/image.ts";

/** A row or column heading: its picture and its name. */
export interface SheetHeading {
  label: string;
  image: RgbaImage;
}

/** One rendered cell. */
export interface SheetCell {
  row: number;
  column: number;
  image: RgbaImage;
  caption: string;
}

/** What goes on a sheet. */
export interface Sheet {
  title: string;
  rows: SheetHeading[];
  columns: SheetHeading[];
  cells: SheetCell[];
  /** Width of every column, in pixels (default 256). */
  cellWidth?: number;
}

const FONT_PATHS = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/dejavu/DejaVuSans.ttf",
  "/Library/Fonts/Arial Unicode.ttf",
  "C:\\Windows\\Fonts\\arial.ttf",
];

// imagescript 1.3's text renderer encodes with `Deno.core.encode`, which Deno 2
// no longer exposes; give it the standard encoder under that name.
function patchTextEncoder() {
  const deno = Deno as unknown as { core?: { encode?: (s: string) => Uint8Array } };
  if (typeof deno.core?.encode === "function") return;
  const encoder = new TextEncoder();
  deno.core = { ...deno.core, encode: (s: string) => encoder.encode(s) };
}

async function font(): Promise<Uint8Array> {
  patchTextEncoder();
  for (const path of FONT_PATHS) {
    try {
      return await Deno.readFile(path);
    } catch { /* next */ }
  }
  throw new Error(
    `contact sheet: no font found (looked for ${FONT_PATHS.join(", ")}); ` +
      "install Debian's fonts-dejavu-core",
  );
}

function toImage({ width, height, data }: RgbaImage): Image {
  const image = new Image(width, height);
  image.bitmap.set(data);
  return image;
}

/** `image` scaled to `width` wide, keeping its aspect, and cropped or padded to `height`. */
function fit(image: RgbaImage, width: number, height: number): Image {
  const scaled = toImage(image).resize(width, Image.RESIZE_AUTO);
  const out = new Image(width, height).fill(0x202020ff);
  return out.composite(scaled, 0, Math.round((height - scaled.height) / 2));
}

/** The sheet as a JPEG. */
export async function contactSheet(sheet: Sheet): Promise<Uint8Array> {
  const w = sheet.cellWidth ?? 256;
  const aspect = Math.max(...sheet.rows.map((r) => r.image.height / r.image.width));
  const h = Math.round(w * Math.min(aspect, 1.25));
  const text = 16, gap = 4, titleH = 32, captionH = text + 8;
  const typeface = await font();
  const label = (s: string, size = text) => Image.renderText(typeface, size, s, 0xffffffff);
  const cols = sheet.columns.length + 1, rows = sheet.rows.length + 1;
  const cellH = h + captionH;
  const canvas = new Image(cols * (w + gap) + gap, titleH + rows * (cellH + gap) + gap)
    .fill(0x101010ff);
  canvas.composite(await label(sheet.title, 18), gap, 6);
  const place = async (row: number, col: number, image: RgbaImage, caption: string) => {
    const x = gap + col * (w + gap), y = titleH + row * (cellH + gap);
    canvas.composite(fit(image, w, h), x, y);
    canvas.composite(await label(caption), x + 4, y + h + 4);
  };
  for (const [i, column] of sheet.columns.entries()) {
    await place(0, i + 1, column.image, column.label);
  }
  for (const [i, row] of sheet.rows.entries()) await place(i + 1, 0, row.image, row.label);
  for (const cell of sheet.cells) {
    await place(cell.row + 1, cell.column + 1, cell.image, cell.caption);
  }
  return canvas.encodeJPEG(82);
}
