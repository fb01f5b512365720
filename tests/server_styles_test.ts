/**
 * Styles over HTTP (catalogue list, image, thumbnail, uploads kept across
 * restarts), the catalogue fetch, and reading image sizes from headers.
 */
import assert from "node:assert/strict";
import { Frame, GIF, Image } from "imagescript";
import { readImageHeader } from "../src/image/header.ts";
import { fetchCatalogue, missingStyles, readCatalogue } from "../src/styles/catalogue.ts";
import { StyleStore } from "../src/styles/store.ts";
import {
  dataDirWithCatalogue,
  encodePng,
  gradientWithAlpha,
  jobForm,
  MIRROR,
  pngOf,
  readSse,
  testServer,
  tiny,
} from "./_server.ts";

Deno.test("the catalogue lists the seven paintings with public sources, and fetches them verified", async () => {
  const catalogue = await readCatalogue();
  assert.deepEqual(catalogue.map((s) => s.id), [
    "starry-night",
    "great-wave",
    "the-scream",
    "shipwreck-minotaur",
    "composition-vii",
    "monet-san-giorgio",
    "wheat-field-cypresses",
  ]);
  for (const style of catalogue) {
    assert.match(style.url, /^https:\/\/raw\.githubusercontent\.com\/[^/]+\/[^/]+\/[0-9a-f]{40}\//);
    assert.match(style.sha256, /^[0-9a-f]{64}$/);
  }
  const dest = await Deno.makeTempDir();
  assert.equal((await missingStyles(catalogue, dest)).length, 7);
  await fetchCatalogue({ dest, mirror: MIRROR });
  assert.deepEqual(await missingStyles(catalogue, dest), []);
  for (const style of catalogue) {
    const header = readImageHeader(await Deno.readFile(`${dest}/${style.file}`));
    assert.deepEqual([header.width, header.height], [style.width, style.height], style.id);
  }
  // A damaged file is noticed and fetched again.
  await Deno.writeFile(`${dest}/great-wave.jpg`, new Uint8Array(10));
  assert.deepEqual((await missingStyles(catalogue, dest)).map((s) => s.id), ["great-wave"]);
});

Deno.test("GET /v1/styles lists the catalogue with sizes; image and thumbnail are served", async () => {
  const server = await testServer();
  try {
    const { styles } = await (await fetch(`${server.url}/v1/styles`)).json();
    assert.equal(styles.length, 7);
    const starry = styles[0];
    assert.deepEqual(
      [starry.id, starry.title, starry.artist, starry.year, starry.width, starry.height],
      ["starry-night", "The Starry Night", "Vincent van Gogh", "1889", 1024, 640],
    );
    const image = await fetch(server.url + starry.image);
    assert.equal(image.headers.get("content-type"), "image/jpeg");
    assert.equal((await image.arrayBuffer()).byteLength, 315236);
    const thumb = await fetch(server.url + starry.thumbnail);
    assert.equal(thumb.headers.get("content-type"), "image/png");
    const small = await pngOf(thumb);
    assert.deepEqual([small.width, small.height], [160, 100]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("an uploaded style gets 201, works in a job, survives a restart, and a duplicate is 409", async () => {
  const first = await testServer();
  const dir = first.dir;
  const painting = await encodePng(gradientWithAlpha(50, 30)) as Uint8Array<ArrayBuffer>;
  const upload = () => {
    const form = new FormData();
    form.append("image", new Blob([painting], { type: "image/png" }), "mine.png");
    form.append("title", "My Gradient");
    return fetch(`${first.url}/v1/styles`, { method: "POST", body: form });
  };
  let id: string;
  try {
    const created = await upload();
    assert.equal(created.status, 201);
    const style = await created.json();
    id = style.id;
    assert.match(id, /^my-gradient-[0-9a-f]{8}$/);
    assert.deepEqual([style.width, style.height, style.source], [50, 30, "user"]);
    assert.equal(created.headers.get("location"), `/v1/styles/${id}`);

    const again = await upload();
    assert.equal(again.status, 409);
    assert.equal((await again.json()).id, id);

    const noTitle = new FormData();
    noTitle.append("image", new Blob([painting]), "x.png");
    const missing = await fetch(`${first.url}/v1/styles`, { method: "POST", body: noTitle });
    assert.equal(missing.status, 422);
    assert.equal((await missing.json()).errors[0].field, "title");

    const job = await fetch(`${first.url}/v1/jobs`, {
      method: "POST",
      body: jobForm(painting, tiny(), [id]),
    });
    assert.equal(job.status, 202);
    const events = await readSse(await fetch(first.url + (await job.json()).links.events));
    assert.equal(events.at(-1)!.event, "done");
  } finally {
    await first.shutdown();
  }
  const second = await testServer({ dir });
  try {
    const { styles } = await (await fetch(`${second.url}/v1/styles`)).json();
    assert.equal(styles.at(-1).id, id);
    const image = await pngOf(await fetch(`${second.url}/v1/styles/${id}/image`));
    assert.deepEqual([image.width, image.height], [50, 30]);
  } finally {
    await second.shutdown();
  }
});

Deno.test("image headers give format and size for PNG, JPEG, GIF, WebP and TIFF without decoding", async () => {
  const image = new Image(37, 21);
  image.fill(0x336699ff);
  assert.deepEqual(readImageHeader(await image.encode()), {
    format: "png",
    width: 37,
    height: 21,
    pixels: 777,
  });
  assert.deepEqual(readImageHeader(await image.encodeJPEG(80)), {
    format: "jpeg",
    width: 37,
    height: 21,
    pixels: 777,
  });
  assert.deepEqual(readImageHeader(await image.encodeWEBP(80)), {
    format: "webp",
    width: 37,
    height: 21,
    pixels: 777,
  });
  const gif = await new GIF([Frame.from(image, 100)]).encode();
  assert.deepEqual(readImageHeader(gif), { format: "gif", width: 37, height: 21, pixels: 777 });
  // Little-endian TIFF: header, then one IFD with ImageWidth (SHORT) and ImageLength (LONG).
  const tiff = new Uint8Array(8 + 2 + 2 * 12 + 4);
  const view = new DataView(tiff.buffer);
  tiff.set([0x49, 0x49, 0x2a, 0]);
  view.setUint32(4, 8, true);
  view.setUint16(8, 2, true);
  [[256, 3, 1, 4000], [257, 4, 1, 70000]].forEach(([tag, type, count, value], i) => {
    const at = 10 + i * 12;
    view.setUint16(at, tag, true);
    view.setUint16(at + 2, type, true);
    view.setUint32(at + 4, count, true);
    if (type === 3) view.setUint16(at + 8, value, true);
    else view.setUint32(at + 8, value, true);
  });
  assert.deepEqual(readImageHeader(tiff), {
    format: "tiff",
    width: 4000,
    height: 70000,
    pixels: 4000 * 70000,
  });
  assert.throws(() => readImageHeader(new Uint8Array([0x89, 0x50, 0x4e, 0x47])), /cut short|PNG/);
  assert.throws(() => readImageHeader(new TextEncoder().encode("hello world")), /not a PNG/);
});

Deno.test("uploads: one per image whatever its title, owner-only files, a quota in count and bytes, DELETE frees a place", async () => {
  const dir = await dataDirWithCatalogue();
  const styles = await StyleStore.open({ dir, maxUserStyles: 2, maxUserBytes: 60_000 });
  const server = await testServer({ dir, styles });
  const upload = async (image: Uint8Array, title: string) => {
    const form = new FormData();
    form.append("image", new Blob([image as Uint8Array<ArrayBuffer>]), "style.png");
    form.append("title", title);
    const response = await fetch(`${server.url}/v1/styles`, { method: "POST", body: form });
    return { status: response.status, body: await response.json() };
  };
  try {
    const a = await encodePng(gradientWithAlpha(30, 20));
    const first = await upload(a, "First");
    assert.equal(first.status, 201);
    // The same bytes under another title: the existing style, not a copy.
    const copy = await upload(a, "Another title");
    assert.equal(copy.status, 409);
    assert.equal(copy.body.id, first.body.id);
    assert.equal(copy.body.errors[0].field, "image");
    for (const name of await Array.fromAsync(Deno.readDir(`${dir}/user`))) {
      assert.equal((await Deno.stat(`${dir}/user/${name.name}`)).mode! & 0o777, 0o600, name.name);
    }
    assert.equal((await Deno.stat(`${dir}/user`)).mode! & 0o777, 0o700);

    // Bytes: a noisy 200x100 PNG is ~80 KB, over the 60 000-byte quota.
    const noisy = gradientWithAlpha(200, 100);
    crypto.getRandomValues(noisy.data.subarray(0, 60_000));
    const big = await upload(await encodePng(noisy), "Big");
    assert.equal(big.status, 409);
    assert.match(big.body.detail, /full.*bytes.*DELETE/);
    // Count: a second fits, a third does not.
    const second = await upload(await encodePng(gradientWithAlpha(31, 20)), "Second");
    assert.equal(second.status, 201);
    const third = await upload(await encodePng(gradientWithAlpha(32, 20)), "Third");
    assert.equal(third.status, 409);
    assert.match(third.body.detail, /2 uploaded styles/);

    // DELETE: uploaded ones only; it frees a place.
    const remove = (id: string) => fetch(`${server.url}/v1/styles/${id}`, { method: "DELETE" });
    const builtIn = await remove("starry-night");
    assert.equal(builtIn.status, 403);
    await builtIn.body?.cancel();
    const unknown = await remove("no-such-style");
    assert.equal(unknown.status, 404);
    await unknown.body?.cancel();
    const gone = await remove(first.body.id);
    assert.equal(gone.status, 204);
    assert.equal((await fetch(`${server.url}/v1/styles/${first.body.id}/image`)).status, 404);
    assert.equal((await upload(await encodePng(gradientWithAlpha(32, 20)), "Third")).status, 201);

    // Records without createdAt (older or hand-written) still list.
    for (const id of ["old-one", "old-two"]) {
      await Deno.writeFile(`${dir}/user/${id}.png`, a);
      await Deno.writeTextFile(
        `${dir}/user/${id}.json`,
        JSON.stringify({ id, title: id, file: `${id}.png`, width: 30, height: 20, sha256: id }),
      );
    }
    const list = await fetch(`${server.url}/v1/styles`);
    assert.equal(list.status, 200);
    const ids = (await list.json()).styles.map((s: { id: string }) => s.id);
    assert.ok(ids.includes("old-one") && ids.includes("old-two"), ids.join());
  } finally {
    await server.shutdown();
  }
});
