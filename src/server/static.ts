/**
 * @module Serving a directory of plain files (the web page, the Photopea plug-in page, the
 * browser client both use), typed by Hono's MIME table.
 */
import type { MiddlewareHandler } from "hono";
import { getMimeType } from "hono/utils/mime";

/** Options of {@linkcode staticFiles}. */
export interface StaticFilesOptions {
  /** Serve only the files whose name matches (default: every file). */
  only?: RegExp;
}

/**
 * Serves files under `root` for request paths under `prefix`; `index.html` for
 * directories. Only plain names (letters, digits, `._-/`, no `..`) are looked
 * up; anything else, a name `only` does not match, or a missing file, falls
 * through to the next handler.
 *
 * @example
 * ```ts
 * app.get("/plugin/common/*", staticFiles("plugin/common", "/plugin/common/", { only: /\.js$/ }));
 * ```
 */
export function staticFiles(
  root: string,
  prefix: string,
  { only }: StaticFilesOptions = {},
): MiddlewareHandler {
  return async (c, next) => {
    const path = decodeURIComponent(new URL(c.req.url).pathname);
    let relative = path.slice(prefix.length);
    if (relative === "" || relative.endsWith("/")) relative += "index.html";
    if (!/^[\w.\-/]+$/.test(relative) || relative.split("/").includes("..")) return await next();
    if (only && !only.test(relative)) return await next();
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
