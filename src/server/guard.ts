/**
 * @module Guards for a server on the user's own machine: Host, Origin, token.
 *
 * Every web page the user opens can reach `127.0.0.1`. Three checks keep them out:
 *
 * - **Host** must be a loopback name (`localhost`, `127.0.0.1`, `[::1]`, with
 *   any port) or a configured one: a DNS-rebinding page arrives with its own
 *   host name and is refused with 403.
 * - **Origin**, when the browser sends one, must be this server itself or an
 *   allow-listed origin (Photopea's only for its plug-in page, unless opted in);
 *   those get CORS headers (preflight included, and Chrome's Private Network
 *   Access answer). Others: 403. Requests without an Origin (scripts, curl, the
 *   GIMP plug-in) pass: browsers send one on every cross-site POST.
 * - **Bearer token**, when configured: `Authorization: Bearer <token>` (or
 *   `?access_token=` for `EventSource` and `<img>`, which cannot set headers). 401 otherwise.
 */
import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { Problem } from "./problem.ts";

/**
 * Photopea's origins. Its plug-in panel is our own page in Photopea's iframe and
 * calls the API from our origin, so Photopea itself needs access only to the
 * plug-in page (`/plugin/photopea/`, e.g. a browser's Private Network Access
 * preflight). Photopea runs script strings any embedding page sends it, so
 * giving its origins the whole API would give it to every web site:
 * that is opt-in (`allowPhotopea`, `--allow-photopea`).
 */
export const PHOTOPEA_ORIGINS: readonly string[] = [
  "https://www.photopea.com",
  "https://photopea.com",
];

/** Where Photopea's origins are allowed without opting in: the plug-in page. */
export const PHOTOPEA_PLUGIN_PATH = "/plugin/photopea";

/**
 * The `frame-ancestors` directive for `path`: our own pages only, except the
 * Photopea plug-in page, which Photopea (and `pluginFramers`, the origins
 * allowed to call the API) may frame: it runs in their iframe.
 */
export function frameAncestors(path: string, pluginFramers: readonly string[] = []): string {
  const plugin = path === PHOTOPEA_PLUGIN_PATH || path.startsWith(`${PHOTOPEA_PLUGIN_PATH}/`);
  const framers = plugin ? [...new Set([...PHOTOPEA_ORIGINS, ...pluginFramers])] : [];
  return ["frame-ancestors 'self'", ...framers].join(" ");
}

/** True for `localhost`, `*.localhost`, `127.0.0.0/8` and `::1` (bracketed or not). */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost") || name === "::1" ||
    /^127(\.\d{1,3}){3}$/.test(name);
}

/** The host name of a `Host` header value, without port or brackets. */
export function hostName(hostHeader: string): string {
  const value = hostHeader.trim().toLowerCase();
  if (value.startsWith("[")) return value.slice(1, value.indexOf("]"));
  const colon = value.lastIndexOf(":");
  return colon >= 0 && value.indexOf(":") === colon ? value.slice(0, colon) : value;
}

/**
 * Refuses requests whose `Host` is not loopback nor in `allowedHosts` (403).
 *
 * @param allowedHosts extra host names (no port); `"*"` allows any host.
 */
export function hostGuard(allowedHosts: readonly string[] = []): MiddlewareHandler {
  const extra = new Set(allowedHosts.map((h) => h.toLowerCase()));
  return async (c, next) => {
    if (!extra.has("*")) {
      const header = c.req.header("host");
      const name = header ? hostName(header) : "";
      if (!isLoopbackHost(name) && !extra.has(name)) {
        throw new Problem(
          403,
          `Host "${header ?? ""}" is not allowed: this server answers only to loopback names ` +
            `(localhost, 127.0.0.1, [::1])${extra.size ? ` and ${[...extra].join(", ")}` : ""}`,
          { type: "host-not-allowed" },
        );
      }
    }
    await next();
  };
}

/**
 * Refuses cross-origin requests from origins not in `allowedOrigins` (403) and
 * answers CORS (and its preflight) for those that are.
 *
 * A request whose `Origin` equals the server's own (scheme + Host) is same-origin
 * and always passes; a request without `Origin` (curl, scripts) passes too.
 */
export function originGuard(
  allowedOrigins: readonly string[],
  /** Extra origins allowed under a path prefix (`{"/plugin/photopea": PHOTOPEA_ORIGINS}`). */
  byPath: Readonly<Record<string, readonly string[]>> = {},
): MiddlewareHandler {
  const normal = (o: string) => o.replace(/\/$/, "").toLowerCase();
  const everywhere = new Set(allowedOrigins.map(normal));
  const prefixes = Object.entries(byPath).map(([prefix, origins]) =>
    [prefix, new Set(origins.map(normal))] as const
  );
  const allowedFor = (path: string) => {
    const set = new Set(everywhere);
    for (const [prefix, origins] of prefixes) {
      if (path === prefix || path.startsWith(`${prefix}/`)) origins.forEach((o) => set.add(o));
    }
    return set;
  };
  const corsHeaders = cors({
    origin: (origin, c) => allowedFor(c.req.path).has(origin.toLowerCase()) ? origin : null,
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    allowHeaders: ["Authorization", "Content-Type", "Accept", "Last-Event-ID"],
    exposeHeaders: ["Location", "Retry-After", "X-Job-Id"],
    maxAge: 600,
  });
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (!origin) return await next();
    const own = `${new URL(c.req.url).protocol}//${c.req.header("host") ?? ""}`.toLowerCase();
    if (origin.toLowerCase() === own) return await next();
    const allowed = allowedFor(c.req.path);
    if (!allowed.has(origin.toLowerCase())) {
      throw new Problem(
        403,
        `Origin "${origin}" is not allowed: only this server's own pages and ` +
          `${[...allowed].join(", ") || "no other origins"} may call it`,
        { type: "origin-not-allowed" },
      );
    }
    const preflight = await corsHeaders(c, next);
    if (preflight && c.req.header("access-control-request-private-network")) {
      preflight.headers.set("Access-Control-Allow-Private-Network", "true");
    }
    return preflight;
  };
}

/**
 * Requires `Authorization: Bearer <token>` (or `?access_token=<token>`) when
 * `token` is set; compares in constant time. Does nothing without a token.
 */
export function tokenGuard(token: string | undefined): MiddlewareHandler {
  const expected = token ? digest(token) : undefined;
  return async (c, next) => {
    if (!expected || c.req.method === "OPTIONS") return await next();
    const header = c.req.header("authorization") ?? "";
    const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ??
      c.req.query("access_token") ?? "";
    if (!given || !sameBytes(await digest(given), await expected)) {
      throw new Problem(
        401,
        given
          ? "the bearer token is wrong"
          : "this server requires a bearer token: send `Authorization: Bearer <token>` " +
            "(the value of --token, RESTYLE_TOKEN, or the --token-file's contents)",
        { type: "token-required", headers: { "WWW-Authenticate": 'Bearer realm="restyle"' } },
      );
    }
    await next();
  };
}

async function digest(text: string): Promise<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.min(a.length, b.length); i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * The bearer token kept in `path`, so it never appears on a command line
 * (`ps` shows those to every user). A missing file is created (mode 0600, its
 * directory 0700) holding a new random token. An existing one must be a
 * regular file that only its owner can read, holding at least 16 characters.
 *
 * @example
 * ```ts
 * const token = await tokenFromFile(defaultTokenFile());
 * ```
 */
export async function tokenFromFile(path: string): Promise<string> {
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  if (!info) {
    const token = Array.from(crypto.getRandomValues(new Uint8Array(24)))
      .map((b) => b.toString(16).padStart(2, "0")).join("");
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
    await Deno.mkdir(dir || "/", { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(path, `${token}\n`, { mode: 0o600, createNew: true });
    return token;
  }
  if (!info.isFile) throw new Error(`token file ${path} is not a regular file`);
  if (info.mode !== null && (info.mode & 0o077) !== 0) {
    throw new Error(
      `token file ${path} can be read by other users (mode ${(info.mode & 0o777).toString(8)}); ` +
        `run: chmod 600 ${path}`,
    );
  }
  const token = (await Deno.readTextFile(path)).trim();
  if (token.length < 16) throw new Error(`token file ${path} holds fewer than 16 characters`);
  return token;
}
