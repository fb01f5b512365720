/**
 * @module The built-in style catalogue: public-domain paintings, fetched and verified like the weights.
 *
 * `src/styles/catalogue.json` names each painting (title, artist, year), its
 * public source URL (a raw GitHub URL at a fixed commit), size and sha256. The
 * images themselves are not in the repository: {@linkcode fetchCatalogue}
 * copies them from `$RESTYLE_MIRROR/images/` or downloads them, and verifies
 * every byte, into `<dataDir>/styles/catalogue/`.
 */
import { dataDir, mirrorDir, repoPath } from "../config.ts";
import { type FetchProgress, fetchVerified, verifyFile } from "../fetch.ts";

/** One painting of the catalogue. */
export interface CatalogueStyle {
  /** The file stem, e.g. `starry-night`. */
  id: string;
  /** Title of the work. */
  title: string;
  /** The artist. */
  artist: string;
  /** As art history gives it: `1889`, `c. 1830–32`. */
  year: string;
  /** File name in the mirror's `images/` and in the catalogue directory. */
  file: string;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Bytes. */
  size: number;
  /** Hex sha256 of the file. */
  sha256: string;
  /** Public source: raw GitHub URL at a fixed commit. */
  url: string;
  /** `owner/repo@commit:path` of that URL. */
  source: string;
  /** Licence or public-domain status of the image. */
  license: string;
}

/** The command that fetches the catalogue, quoted in errors. */
export const FETCH_STYLES_COMMAND = "deno task serve (fetches missing styles at start)";

/** Path of the catalogue manifest shipped in the repository. */
export function cataloguePath(): string {
  return repoPath("src/styles/catalogue.json");
}

/** Directory the catalogue images are fetched into: `<dataDir>/styles/catalogue`. */
export function catalogueDir(): string {
  return `${dataDir()}/styles/catalogue`;
}

/** Reads the catalogue manifest. */
export async function readCatalogue(path = cataloguePath()): Promise<CatalogueStyle[]> {
  const manifest = JSON.parse(await Deno.readTextFile(path));
  if (manifest.version !== 1 || !Array.isArray(manifest.styles)) {
    throw new Error(`${path}: not a version 1 style catalogue`);
  }
  return manifest.styles as CatalogueStyle[];
}

/** Options of {@linkcode fetchCatalogue}; every field has a default. */
export interface FetchCatalogueOptions {
  /** Mirror root holding `images/<file>`; default `RESTYLE_MIRROR` (else download). */
  mirror?: string;
  /** Destination directory; default {@linkcode catalogueDir}. */
  dest?: string;
  /** The styles to fetch; default the whole catalogue. */
  styles?: CatalogueStyle[];
  onProgress?: (progress: FetchProgress) => void;
}

/**
 * Makes every catalogue image present and verified (already verified files are kept).
 *
 * @example
 * ```ts
 * await fetchCatalogue({ mirror: "../shared" }); // or RESTYLE_MIRROR, or download
 * ```
 */
export async function fetchCatalogue(options: FetchCatalogueOptions = {}): Promise<void> {
  const styles = options.styles ?? await readCatalogue();
  await fetchVerified(
    styles.map((s) => ({ path: s.file, size: s.size, sha256: s.sha256, urls: [s.url] })),
    {
      mirror: options.mirror ?? mirrorDir(),
      mirrorPrefix: "images",
      dest: options.dest ?? catalogueDir(),
      fixCommand: FETCH_STYLES_COMMAND,
      onProgress: options.onProgress,
    },
  );
}

/** The catalogue styles whose image is not (correctly) in `dest`. */
export async function missingStyles(
  styles?: CatalogueStyle[],
  dest = catalogueDir(),
): Promise<CatalogueStyle[]> {
  const all = styles ?? await readCatalogue();
  const missing: CatalogueStyle[] = [];
  for (const style of all) {
    const file = { path: style.file, size: style.size, sha256: style.sha256, urls: [] };
    if (await verifyFile(`${dest}/${style.file}`, file) !== undefined) missing.push(style);
  }
  return missing;
}
