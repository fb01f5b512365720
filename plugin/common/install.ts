/**
 * @module What the GIMP and Krita installers both put beside their plug-in: the HTTP client.
 *
 * Both plug-ins call the Restyle API through one Python module,
 * `plugin/common/restyle_client.py`; each installer copies it into the folder
 * its plug-in imports from (GIMP's `plug-ins/restyle/`, Krita's `pykrita/restyle/`).
 */

/** The shared client's file name, as the plug-ins import it (`restyle_client`). */
export const CLIENT_FILE = "restyle_client.py";

/**
 * Copies the shared client into `folder` (which must exist) and returns its path there.
 *
 * @example
 * ```ts
 * await installClient("/tmp/gimp-home/.config/GIMP/3.0/plug-ins/restyle");
 * ```
 */
export async function installClient(folder: string): Promise<string> {
  const target = `${folder}/${CLIENT_FILE}`;
  await Deno.copyFile(new URL(`./${CLIENT_FILE}`, import.meta.url), target);
  return target;
}
