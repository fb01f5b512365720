/**
 * @module Serving a directory of plain files (the web page, the Photopea plug-in page), typed
 * by Hono's MIME table.
 */
import type { MiddlewareHandler } from "hono";
import { getMimeType } from "hono/utils/mime";

/**
 * Serves files under `root` for request paths under `prefix`; `index.html` for
 * directories. Only plain names (letters, digits, `._-/`, no `..`) are looked
 * up; anything else, or a missing file, falls through to the next handler.
 */
export function staticFiles(root: string, prefix: string): MiddlewareHandler {
  return async (c, next) => {
    const path = decodeURIComponent(new URL(c.req.url).pathname);
    let relative = path.slice(prefix.length);
    if (relative === "" || relative.endsWith("/")) relative += "index.html";
    if (!/^[\w.\-/]+$/.test(relative) || relative.split("/").includes("..")) return await next();
    let body: Uint8Array;
    try {
      body = await Deno.readFile(`${root}/${relative}`);
    } catch {
      return await next();
    }
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": getMimeType(relative) ?? "application/octet-stream",
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
  };
}
