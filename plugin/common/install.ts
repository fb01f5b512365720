/**
 * @module What the GIMP and Krita installers both put beside their plug-in: the HTTP client.
 *
 * Both plug-ins call the Restyle API through one Python module,
 * `plugin/common/restyle_client.py`; each installer copies it into the folder
 * its plug-in imports from (GIMP's `plug-ins/restyle/`, Krita's `pykrita/restyle/`),
 * with an `install.json` beside it that names the token file of this Restyle
 * folder: where `deno task serve --generate-token` keeps the token, so the
 * plug-ins find it without being told.
 */
import { defaultTokenFile } from "../../src/config.ts";

/** The shared client's file name, as the plug-ins import it (`restyle_client`). */
export const CLIENT_FILE = "restyle_client.py";
/** What the installers record for the client: `{"tokenFile": path}`. */
export const INSTALL_FILE = "install.json";

/**
 * Copies the shared client into `folder` (which must exist), records `tokenFile`
 * (default: this Restyle folder's, as `--generate-token` writes it) beside it, and
 * returns the client's path there.
 *
 * @example
 * ```ts
 * await installClient("/tmp/gimp-home/.config/GIMP/3.0/plug-ins/restyle");
 * ```
 */
export async function installClient(
  folder: string,
  tokenFile: string = defaultTokenFile(),
): Promise<string> {
  const target = `${folder}/${CLIENT_FILE}`;
  await Deno.copyFile(new URL(`./${CLIENT_FILE}`, import.meta.url), target);
  await Deno.writeTextFile(`${folder}/${INSTALL_FILE}`, JSON.stringify({ tokenFile }) + "\n");
  return target;
}
