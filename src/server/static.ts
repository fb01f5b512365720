/**
 * @module Serving a directory of plain files (the web page, the Photopea plug-in page).
 */
import type { MiddlewareHandler } from "hono";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  png: "image/png",
  svg: "image/svg+xml",
  ico: "image/x-icon",
  txt: "text/plain; charset=utf-8",
};

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
    const ext = relative.slice(relative.lastIndexOf(".") + 1).toLowerCase();
    return c.body(body as Uint8Array<ArrayBuffer>, 200, {
      "Content-Type": TYPES[ext] ?? "application/octet-stream",
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
  };
}
