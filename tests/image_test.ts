import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { GIF, Image } from "imagescript";
import { decodeImage, encodeGif, encodePng, ImageDecodeError } from "../src/image/codec.ts";
import { readImageHeader } from "../src/image/header.ts";
import { applyOrientation } from "../src/image/orient.ts";
import {
  alphaOf,
  fitToLongestSide,
  imageToTensor,
  imageToTensorFit,
  resize,
  tensorToImage,
} from "../src/image/tensor.ts";
import { rampImage } from "./_tiny_net.ts";

await tf.setBackend("cpu");
const mirror = Deno.env.get("RESTYLE_MIRROR");

Deno.test("encodePng() then decodeImage() gives back the same pixels, alpha included", async () => {
  const image = rampImage(9, 5, (x, y) => (x * 29 + y * 7) % 256);
  const png = await encodePng(image);
  assert.deepEqual(readImageHeader(png), { format: "png", width: 9, height: 5, pixels: 45 });
  const back = await decodeImage(png);
  assert.equal(back.width, 9);
  assert.equal(back.height, 5);
  assert.deepEqual(back.data, image.data);
});

Deno.test("encodeGif() writes an animated GIF with one frame per image", async () => {
  const frames = [rampImage(8, 6), rampImage(8, 6, () => 255)];
  const gif = await encodeGif(frames, 100);
  const decoded = await GIF.decode(gif);
  assert.equal(decoded.length, 2);
  assert.equal(decoded[0].width, 8);
  const first = await decodeImage(gif); // first frame
  assert.equal(first.height, 6);
});

Deno.test({
  name: "decodeImage() reads the PNG and JPEG fixtures at their real sizes",
  ignore: !mirror,
  async fn() {
    const png = await Deno.readFile(`${mirror}/images/cat.png`);
    const jpeg = await Deno.readFile(`${mirror}/images/starry-night.jpg`);
    const [cat, starry] = [await decodeImage(png), await decodeImage(jpeg)];
    assert.deepEqual([cat.width, cat.height], [451, 300]);
    assert.deepEqual([starry.width, starry.height], [1024, 640]);
    assert.deepEqual(readImageHeader(jpeg), {
      format: "jpeg",
      width: 1024,
      height: 640,
      pixels: 1024 * 640,
    });
    assert.equal(starry.data.length, 1024 * 640 * 4);
    assert.equal(alphaOf(starry), null); // JPEG: opaque
  },
});

Deno.test("decodeImage() refuses WebP and garbage with a clear error", async () => {
  const webp = new TextEncoder().encode("RIFF\0\0\0\0WEBPVP8 ");
  await assert.rejects(decodeImage(webp), (e: ImageDecodeError) => {
    assert.ok(e instanceof ImageDecodeError && e.unsupported);
    assert.match(e.message, /WebP images are not supported/);
    return true;
  });
  await assert.rejects(
    decodeImage(new Uint8Array([1, 2, 3, 4, 5])),
    /not a PNG, JPEG, TIFF or GIF/,
  );
  const png = await encodePng(rampImage(4, 4));
  await assert.rejects(decodeImage(png.subarray(0, 40)), ImageDecodeError);
});

Deno.test("fitToLongestSide() scales the longest side to the limit and keeps the aspect", () => {
  assert.deepEqual(fitToLongestSide(300, 451, 256), [170, 256]);
  assert.deepEqual(fitToLongestSide(640, 1024, 128), [80, 128]);
  assert.deepEqual(fitToLongestSide(10, 20, 40), [20, 40]);
  assert.deepEqual(fitToLongestSide(10, 20, 40, false), [10, 20]);
});

Deno.test("imageToTensor() and tensorToImage() round-trip RGB and re-apply alpha", async () => {
  const image = rampImage(6, 4, (x) => x * 40);
  const rgb = imageToTensor(image);
  assert.deepEqual(rgb.shape, [1, 4, 6, 3]);
  const alpha = alphaOf(image);
  assert.ok(alpha);
  const back = await tensorToImage(rgb, alpha);
  assert.deepEqual(back.data, image.data);
  rgb.dispose();
});

Deno.test("tensorToImage() rounds and clamps to 0..255", async () => {
  const rgb = tf.tensor4d([-20, 127.6, 300], [1, 1, 1, 3]);
  const image = await tensorToImage(rgb);
  assert.deepEqual(Array.from(image.data), [0, 128, 255, 255]);
  rgb.dispose();
});

Deno.test("resize() keeps a flat colour flat and returns the requested size", () => {
  const flat = tf.fill([1, 40, 64, 3], 100) as tf.Tensor4D;
  const small = resize(flat, 5, 8);
  assert.deepEqual(small.shape, [1, 5, 8, 3]);
  assert.ok(small.dataSync().every((v) => Math.abs(v - 100) < 1e-3));
  const fitted = imageToTensorFit(rampImage(30, 20), 15);
  assert.deepEqual(fitted.shape, [1, 10, 15, 3]);
  tf.dispose([flat, small, fitted]);
});

/** `jpeg` with an APP1 Exif segment stating `orientation` inserted after its SOI marker. */
function withOrientation(jpeg: Uint8Array, orientation: number): Uint8Array {
  // "Exif\0\0", then a big-endian TIFF header and one directory with one SHORT entry.
  const tiff = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1];
  const body = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff, 0, orientation, 0, 0, 0, 0, 0, 0];
  const length = body.length + 2;
  return new Uint8Array([
    ...jpeg.subarray(0, 2),
    0xff,
    0xe1,
    length >> 8,
    length & 0xff,
    ...body,
    ...jpeg.subarray(2),
  ]);
}

Deno.test("a JPEG's EXIF orientation is applied: a phone's portrait photo does not come back sideways", async () => {
  // 40x20, left half red, right half blue, stored as a camera held sideways would.
  const stored = new Image(40, 20);
  stored.fill((x) => (x <= 20 ? 0xff0000ff : 0x0000ffff));
  const jpeg = withOrientation(await stored.encodeJPEG(95), 6);
  assert.deepEqual(readImageHeader(jpeg), {
    format: "jpeg",
    width: 20,
    height: 40,
    pixels: 800,
    orientation: 6,
  });
  const upright = await decodeImage(jpeg);
  assert.deepEqual([upright.width, upright.height], [20, 40]);
  // Turned 90° clockwise: the left (red) half is now on top, the right (blue) at the bottom.
  const pixel = (x: number, y: number) =>
    upright.data.subarray((y * 20 + x) * 4, (y * 20 + x) * 4 + 3);
  assert.ok(pixel(10, 5)[0] > 200 && pixel(10, 5)[2] < 60, `top: ${pixel(10, 5)}`);
  assert.ok(pixel(10, 35)[2] > 200 && pixel(10, 35)[0] < 60, `bottom: ${pixel(10, 35)}`);
  // Orientation 1 (or none) leaves the pixels as stored.
  const plain = await decodeImage(withOrientation(await stored.encodeJPEG(95), 1));
  assert.deepEqual([plain.width, plain.height], [40, 20]);
});

Deno.test("applyOrientation() turns and mirrors as each EXIF value says", () => {
  // 3x2, pixels numbered 0..5 row by row (in the red channel).
  const image = { width: 3, height: 2, data: new Uint8Array(24) };
  for (let i = 0; i < 6; i++) image.data[i * 4] = i;
  const red = (o: number) => {
    const out = applyOrientation(image, o);
    return [out.width, out.height, ...Array.from({ length: 6 }, (_, i) => out.data[i * 4])];
  };
  assert.deepEqual(red(1), [3, 2, 0, 1, 2, 3, 4, 5]);
  assert.deepEqual(red(2), [3, 2, 2, 1, 0, 5, 4, 3]);
  assert.deepEqual(red(3), [3, 2, 5, 4, 3, 2, 1, 0]);
  assert.deepEqual(red(4), [3, 2, 3, 4, 5, 0, 1, 2]);
  assert.deepEqual(red(5), [2, 3, 0, 3, 1, 4, 2, 5]);
  assert.deepEqual(red(6), [2, 3, 3, 0, 4, 1, 5, 2]);
  assert.deepEqual(red(7), [2, 3, 5, 2, 4, 1, 3, 0]);
  assert.deepEqual(red(8), [2, 3, 2, 5, 1, 4, 0, 3]);
});

/** A GIF89a of a `canvas` logical screen holding one `frame`-sized (empty) image. */
function gifWithFrame(canvas: [number, number], frame: [number, number], at = [0, 0]): Uint8Array {
  const u16 = (n: number) => [n & 0xff, n >> 8];
  return new Uint8Array([
    ...new TextEncoder().encode("GIF89a"),
    ...u16(canvas[0]),
    ...u16(canvas[1]),
    0,
    0,
    0,
    0x2c,
    ...u16(at[0]),
    ...u16(at[1]),
    ...u16(frame[0]),
    ...u16(frame[1]),
    0,
    2, // LZW minimum code size
    0, // no data sub-blocks
    0x3b,
  ]);
}

Deno.test("GIF headers check every frame: a 1x1 canvas cannot hide a 20000x20000 frame", () => {
  assert.throws(
    () => readImageHeader(gifWithFrame([1, 1], [20000, 20000])),
    /frame 1 \(20000x20000 at 0,0\) lies outside its 1x1 canvas/,
  );
  assert.throws(() => readImageHeader(gifWithFrame([10, 10], [5, 5], [8, 0])), /outside/);
  // The decode size counts what the decoder allocates: canvas and largest frame.
  assert.equal(readImageHeader(gifWithFrame([20000, 20000], [20000, 20000])).pixels, 4e8);
  assert.equal(readImageHeader(gifWithFrame([300, 200], [10, 10])).pixels, 60000);
  // No frame before the end: cut short.
  assert.throws(() => readImageHeader(gifWithFrame([4, 4], [4, 4]).subarray(0, 14)), /cut short/);
});
