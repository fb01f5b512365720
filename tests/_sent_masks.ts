/**
 * The `mask` files a plug-in sent with a job, decoded: what the GIMP and Krita tests
 * compare with the editor's selection.
 */
import assert from "node:assert/strict";
import { decode, Image } from "imagescript";

/** A sent mask: its size, and its value (0..255) at (x, y) within it. */
export interface SentMask {
  width: number;
  height: number;
  value: (x: number, y: number) => number;
}

/** The `mask` files of a submitted job's form, decoded, in the order sent. */
export async function sentMasks(form: FormData): Promise<SentMask[]> {
  const masks = [];
  for (const entry of form.getAll("mask")) {
    assert.ok(entry instanceof File, "a mask is sent as a file");
    const image = await decode(new Uint8Array(await entry.arrayBuffer()));
    assert.ok(image instanceof Image);
    const value = (x: number, y: number) => Image.colorToRGBA(image.getPixelAt(x + 1, y + 1))[0];
    masks.push({ width: image.width, height: image.height, value });
  }
  return masks;
}
