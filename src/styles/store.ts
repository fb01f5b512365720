/**
 * @module The style store: built-in catalogue paintings plus the user's own uploads.
 *
 * Catalogue images live in `<dir>/catalogue/` (see `catalogue.ts`); user styles
 * in `<dir>/user/<id>.<ext>` with a `<id>.json` beside each, so they survive
 * restarts, written owner-only (0600), bounded in count and bytes, one per
 * image (by sha256), deletable. Thumbnails are made once and cached in
 * `<dir>/thumbnails/`.
 */
import { createHash } from "node:crypto";
import { dataDir } from "../config.ts";
import { decodeImage, encodePng, resizeImage } from "../image/codec.ts";
import { readImageHeader } from "../image/header.ts";
import { fitToLongestSide, type RgbaImage } from "../image/image.ts";
import { type CatalogueStyle, FETCH_STYLES_COMMAND, readCatalogue } from "./catalogue.ts";

/**
 * Why the store refused: `unknown` id, a catalogue style `not-fetched` yet, an upload that
 * `exists` already or would overfill a `full` store, or removing a `built-in` style.
 */
export type StyleErrorReason = "unknown" | "not-fetched" | "exists" | "full" | "built-in";

/** A style the store cannot give, add or remove; the server maps `reason` to an HTTP status. */
export class StyleError extends Error {
  /** A refusal for `reason`; `existingId`, for `exists`, is the id the image is stored under. */
  constructor(
    readonly reason: StyleErrorReason,
    message: string,
    readonly existingId?: string,
  ) {
    super(message);
    this.name = "StyleError";
  }
}

/** A style as listed by `GET /v1/styles`. */
export interface StyleInfo {
  /** Stable id: the catalogue's file stem, or one given to an upload. */
  id: string;
  /** Title of the work. */
  title: string;
  /** Artist; `null` for uploaded styles. */
  artist: string | null;
  /** Year as art history gives it; `null` for uploaded styles. */
  year: string | null;
  /** Image width in pixels. */
  width: number;
  /** Image height in pixels. */
  height: number;
  /** `catalogue` (built in) or `user` (uploaded). */
  source: "catalogue" | "user";
  /** False for a catalogue style whose image is not fetched yet. */
  available: boolean;
}

interface UserStyleRecord {
  id: string;
  title: string;
  file: string;
  width: number;
  height: number;
  sha256: string;
  /** ISO time; absent in records written by hand or by older versions. */
  createdAt?: string;
}

/** Options of {@linkcode StyleStore}. */
export interface StyleStoreOptions {
  /** Root directory; default `<dataDir>/styles`. */
  dir?: string;
  /** Catalogue entries; default read from `catalogue.json`. */
  catalogue?: CatalogueStyle[];
  /** Longest side of thumbnails in pixels. Default 160. */
  thumbnailSize?: number;
  /** Most uploaded styles kept (409 beyond). Default 100. */
  maxUserStyles?: number;
  /** Most bytes of uploaded style files in all (409 beyond). Default 256 MiB. */
  maxUserBytes?: number;
}

/**
 * Lists, reads and adds styles.
 *
 * @example
 * ```ts
 * const store = await StyleStore.open();
 * const starry = await store.decoded("starry-night");
 * const mine = await store.add(await Deno.readFile("painting.png"), "My painting");
 * ```
 */
export class StyleStore {
  /** Root directory of the store. */
  readonly dir: string;
  /** Longest side of thumbnails in pixels. */
  readonly thumbnailSize: number;
  /** Most uploaded styles kept. */
  readonly maxUserStyles: number;
  /** Most bytes of uploaded style files in all. */
  readonly maxUserBytes: number;
  readonly #catalogue: Map<string, CatalogueStyle>;

  private constructor(dir: string, catalogue: CatalogueStyle[], options: StyleStoreOptions) {
    this.dir = dir;
    this.thumbnailSize = options.thumbnailSize ?? 160;
    this.maxUserStyles = options.maxUserStyles ?? 100;
    this.maxUserBytes = options.maxUserBytes ?? 256 * 1024 * 1024;
    this.#catalogue = new Map(catalogue.map((s) => [s.id, s]));
  }

  /** Opens the store (reads the catalogue manifest). */
  static async open(options: StyleStoreOptions = {}): Promise<StyleStore> {
    const dir = options.dir ?? `${dataDir()}/styles`;
    return new StyleStore(dir, options.catalogue ?? await readCatalogue(), options);
  }

  /** Every style: catalogue first (in manifest order), then uploads (oldest first). */
  async list(): Promise<StyleInfo[]> {
    const catalogue = await Promise.all(
      [...this.#catalogue.values()].map(async (s): Promise<StyleInfo> => ({
        id: s.id,
        title: s.title,
        artist: s.artist,
        year: s.year,
        width: s.width,
        height: s.height,
        source: "catalogue",
        available: await exists(this.#cataloguePath(s)),
      })),
    );
    const users = (await this.#userRecords()).map((r): StyleInfo => ({
      id: r.id,
      title: r.title,
      artist: null,
      year: null,
      width: r.width,
      height: r.height,
      source: "user",
      available: true,
    }));
    return [...catalogue, ...users];
  }

  /** The style's file bytes; a StyleError when unknown or not fetched yet. */
  async bytes(id: string): Promise<Uint8Array> {
    return await Deno.readFile(await this.#path(id));
  }

  /** The style's width and height without decoding it; StyleErrors as {@linkcode bytes}. */
  async size(id: string): Promise<{ width: number; height: number }> {
    const style = this.#catalogue.get(id);
    if (style) {
      await this.#path(id); // not fetched yet: a StyleError
      return { width: style.width, height: style.height };
    }
    await this.#path(id);
    const record = (await this.#userRecords()).find((r) => r.id === id)!;
    return { width: record.width, height: record.height };
  }

  /** The style decoded to RGBA. */
  async decoded(id: string): Promise<RgbaImage> {
    return await decodeImage(await this.bytes(id));
  }

  /** A PNG thumbnail (longest side `thumbnailSize`), made once and cached. */
  async thumbnail(id: string): Promise<Uint8Array> {
    const source = await this.#path(id);
    const cached = `${this.dir}/thumbnails/${id}.png`;
    try {
      return await Deno.readFile(cached);
    } catch { /* not made yet */ }
    const rgba = await decodeImage(await Deno.readFile(source));
    const [height, width] = fitToLongestSide(rgba.height, rgba.width, this.thumbnailSize, false);
    const png = await encodePng(resizeImage(rgba, width, height));
    await Deno.mkdir(`${this.dir}/thumbnails`, { recursive: true, mode: 0o700 });
    await Deno.writeFile(cached, png, { mode: 0o600 });
    return png;
  }

  /**
   * Adds an uploaded style and persists it (files mode 0600, owner only). The
   * id is the title's slug plus the first 8 hex digits of the image's sha256.
   * An image already stored (same bytes, whatever the title) is a 409 naming
   * the existing id; so is a full store (`maxUserStyles`, `maxUserBytes`).
   * The bytes must already be a decodable image (the caller checks).
   */
  async add(bytes: Uint8Array, title: string): Promise<StyleInfo> {
    const header = readImageHeader(bytes);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const slug = title.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "").slice(0, 40) || "style";
    const id = `${slug}-${sha256.slice(0, 8)}`;
    const userDir = `${this.dir}/user`;
    const records = await this.#userRecords();
    const same = records.find((r) => r.sha256 === sha256);
    if (same || this.#catalogue.has(id)) {
      const existing = same?.id ?? id;
      throw new StyleError(
        "exists",
        `this image is already a style with id "${existing}"`,
        existing,
      );
    }
    const used = (await Promise.all(records.map((r) => this.#fileSize(r)))).reduce(
      (a, b) => a + b,
      0,
    );
    if (records.length >= this.maxUserStyles || used + bytes.length > this.maxUserBytes) {
      const full = records.length >= this.maxUserStyles
        ? `${records.length} uploaded styles, the most this server keeps`
        : `${used} bytes of uploaded styles; this one (${bytes.length}) would pass the ` +
          `${this.maxUserBytes}-byte limit`;
      throw new StyleError("full", `the style store is full: ${full}`);
    }
    const ext = header.format === "jpeg" ? "jpg" : header.format;
    const record: UserStyleRecord = {
      id,
      title,
      file: `${id}.${ext}`,
      width: header.width,
      height: header.height,
      sha256,
      createdAt: new Date().toISOString(),
    };
    await Deno.mkdir(userDir, { recursive: true, mode: 0o700 });
    await Deno.writeFile(`${userDir}/${record.file}`, bytes, { mode: 0o600 });
    await Deno.writeTextFile(`${userDir}/${id}.json`, JSON.stringify(record, null, 2), {
      mode: 0o600,
    });
    return {
      id,
      title,
      artist: null,
      year: null,
      width: header.width,
      height: header.height,
      source: "user",
      available: true,
    };
  }

  /**
   * Deletes an uploaded style: its image, record and thumbnail. A built-in
   * style is a 403, an unknown id a 404.
   */
  async remove(id: string): Promise<void> {
    if (this.#catalogue.has(id)) {
      throw new StyleError("built-in", `"${id}" is a built-in style; only uploads can be deleted`);
    }
    await this.#path(id); // unknown: a StyleError
    const record = (await this.#userRecords()).find((r) => r.id === id)!;
    for (
      const path of [
        `${this.dir}/user/${record.file}`,
        `${this.dir}/user/${id}.json`,
        `${this.dir}/thumbnails/${id}.png`,
      ]
    ) {
      await Deno.remove(path).catch((error) => {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
      });
    }
  }

  async #fileSize(record: UserStyleRecord): Promise<number> {
    try {
      return (await Deno.stat(`${this.dir}/user/${record.file}`)).size;
    } catch {
      return 0;
    }
  }

  #cataloguePath(style: CatalogueStyle): string {
    return `${this.dir}/catalogue/${style.file}`;
  }

  async #path(id: string): Promise<string> {
    const style = this.#catalogue.get(id);
    if (style) {
      const path = this.#cataloguePath(style);
      if (!await exists(path)) {
        throw new StyleError(
          "not-fetched",
          `style "${id}" is in the catalogue but its image is not fetched yet; ` +
            `run ${FETCH_STYLES_COMMAND}, with RESTYLE_MIRROR set when offline`,
        );
      }
      return path;
    }
    const record = /^[a-z0-9-]{1,64}$/.test(id)
      ? (await this.#userRecords()).find((r) => r.id === id)
      : undefined;
    if (!record) {
      const ids = [...this.#catalogue.keys()].join(", ");
      throw new StyleError("unknown", `no style "${id}"; built-in styles are ${ids}`);
    }
    return `${this.dir}/user/${record.file}`;
  }

  async #userRecords(): Promise<UserStyleRecord[]> {
    const records: UserStyleRecord[] = [];
    try {
      for await (const entry of Deno.readDir(`${this.dir}/user`)) {
        if (!entry.isFile || !entry.name.endsWith(".json")) continue;
        try {
          const record = JSON.parse(await Deno.readTextFile(`${this.dir}/user/${entry.name}`));
          if (isRecord(record)) records.push(record);
        } catch { /* a half-written record: skip it */ }
      }
    } catch { /* no uploads yet */ }
    // Records from older versions (or edited by hand) may lack createdAt: they sort first.
    return records.sort((a, b) => (a.createdAt ?? "").localeCompare(b.createdAt ?? ""));
  }
}

/** A usable user-style record: an id and a file name that stay inside the store, and a size. */
function isRecord(value: unknown): value is UserStyleRecord {
  const r = value as UserStyleRecord;
  return typeof r === "object" && r !== null && typeof r.id === "string" &&
    /^[a-z0-9-]{1,64}$/.test(r.id) && typeof r.file === "string" &&
    /^[a-z0-9-]{1,64}\.[a-z]{3,4}$/.test(r.file) && Number.isInteger(r.width) &&
    Number.isInteger(r.height) && (r.createdAt === undefined || typeof r.createdAt === "string");
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
