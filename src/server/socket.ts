/**
 * @module Taking a Unix socket path without destroying anything else.
 *
 * `--socket PATH` used to delete whatever was at PATH. Only a stale socket
 * (one nothing listens on any more, left by a server that was killed) may be
 * replaced; a live socket, a file, a directory or a link is refused.
 */

/**
 * Makes `path` free for a new Unix socket: nothing there, or a stale socket
 * (removed). Throws naming what is there otherwise.
 *
 * @example
 * ```ts
 * await claimSocketPath("/run/user/1000/restyle.sock");
 * Deno.serve({ path: "/run/user/1000/restyle.sock" }, handler);
 * ```
 */
export async function claimSocketPath(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  if (!info.isSocket) {
    const what = info.isSymlink
      ? "a symbolic link"
      : info.isDirectory
      ? "a directory"
      : info.isFile
      ? "a file"
      : "not a socket";
    throw new Error(`refusing to replace ${path}: it is ${what}, not a stale socket`);
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch (error) {
    if (error instanceof Deno.errors.ConnectionRefused || error instanceof Deno.errors.NotFound) {
      await Deno.remove(path);
      return;
    }
    throw error;
  }
  throw new Error(`refusing to replace ${path}: a server is listening on it`);
}
