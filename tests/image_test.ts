import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { GIF } from "imagescript";
import {
  decodeImage,
  encodeGif,
  encodePng,
  ImageDecodeError,
  imageDimensions,
} from "../src/image/codec.ts";
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
  assert.deepEqual(imageDimensions(png), { width: 9, height: 5 });
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
    assert.deepEqual(imageDimensions(jpeg), { width: 1024, height: 640 });
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
