/**
 * @module A request-body size limit that leaves the request's `signal` alone.
 *
 * Hono's `bodyLimit` trusts `Content-Length`; without one (a chunked upload, or a `DELETE`
 * from `fetch`, whose empty body has no length) it reads the body, counting, and hands the
 * bytes on as `new Request(request, { body })`. Copying a request reads its `signal`, and
 * Deno.serve warns about every served request whose signal was read ("request.signal aborts
 * on successful responses (legacy behavior)"), because Deno will stop aborting it then. This
 * is the same check, with the counted bytes in a request made from the URL, method and headers.
 */
import type { Context, MiddlewareHandler } from "hono";

/** Options of {@linkcode bodyLimit}. */
export interface BodyLimitOptions {
  /** Most bytes a request body may have. */
  maxSize: number;
  /** The answer to a larger body (it may throw instead, as a Problem does). */
  onError: (c: Context) => Response | Promise<Response>;
}

/**
 * Refuses request bodies over `maxSize` bytes: by `Content-Length` when the request states
 * one, otherwise by reading the body (at most `maxSize` bytes of it are kept).
 *
 * @example
 * ```ts
 * app.use("/v1/*", bodyLimit({ maxSize: 64 * 2 ** 20, onError: (c) => c.text("too large", 413) }));
 * ```
 */
export function bodyLimit({ maxSize, onError }: BodyLimitOptions): MiddlewareHandler {
  return async function bodyLimit(c, next) {
    const request = c.req.raw;
    if (!request.body) return await next();
    const length = request.headers.get("content-length");
    if (length !== null && !request.headers.has("transfer-encoding")) {
      return Number.parseInt(length, 10) > maxSize ? await onError(c) : await next();
    }
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of request.body) {
      size += chunk.length;
      if (size > maxSize) return await onError(c);
      chunks.push(chunk);
    }
    const body = new Uint8Array(size);
    chunks.reduce((offset, chunk) => (body.set(chunk, offset), offset + chunk.length), 0);
    const { url, method, headers } = request;
    c.req.raw = new Request(url, { method, headers, body: size ? body : null });
    return await next();
  };
}
