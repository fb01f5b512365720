/**
 * @module Putting the app on a TCP port or a Unix socket, with the bind-time rules.
 *
 * A token is mandatory off loopback; a Unix socket is made mode 0600 (owner only).
 */
import { type AppOptions, createApp, type RestyleApp } from "./app.ts";
import { isLoopbackHost } from "./guard.ts";
import { claimSocketPath } from "./socket.ts";

/** Options of {@linkcode startServer}: the app's, plus where to listen. */
export interface ServeOptions extends AppOptions {
  /** Address to bind. Default `127.0.0.1`. Non-loopback requires `token`. */
  hostname?: string;
  /** TCP port; 0 picks a free one. Default 8787. */
  port?: number;
  /** Serve on this Unix socket path instead of TCP (mode 0600). */
  socket?: string;
}

/** A listening server. */
export interface RunningServer extends RestyleApp {
  /** `http://host:port` or `unix:PATH`. */
  url: string;
  /** The underlying Deno HTTP server. */
  server: Deno.HttpServer;
  /** Cancels jobs, frees the networks and stops listening. */
  shutdown(): Promise<void>;
}

/**
 * Starts the server.
 *
 * @throws when binding a non-loopback address without a token.
 * @example
 * ```ts
 * const { url, shutdown } = await startServer({ port: 0 });
 * console.log(`listening on ${url}`);
 * await shutdown();
 * ```
 */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const { hostname = "127.0.0.1", port = 8787, socket, ...appOptions } = options;
  const loopback = socket !== undefined || isLoopbackHost(hostname);
  if (!loopback && !appOptions.token) {
    throw new Error(
      `refusing to listen on ${hostname} without a token: every machine on the network could ` +
        "use this server. Pass --token TOKEN (or set RESTYLE_TOKEN), or bind 127.0.0.1",
    );
  }
  if (!loopback && !appOptions.allowedHosts) {
    // Off loopback the token keeps rebinding pages out; clients will use the machine's own names.
    appOptions.allowedHosts = ["*"];
  }
  if (socket) await claimSocketPath(socket); // a stale socket only: never a file or a live one
  const restyle = await createApp(appOptions);
  let server: Deno.HttpServer;
  let url: string;
  if (socket) {
    server = Deno.serve({ path: socket, onListen: () => {} }, restyle.app.fetch);
    await Deno.chmod(socket, 0o600);
    url = `unix:${socket}`;
  } else {
    const listening = Promise.withResolvers<Deno.NetAddr>();
    server = Deno.serve({ hostname, port, onListen: listening.resolve }, restyle.app.fetch);
    const addr = await listening.promise;
    const host = addr.hostname.includes(":") ? `[${addr.hostname}]` : addr.hostname;
    url = `http://${host}:${addr.port}`;
  }
  let stopping: Promise<void> | undefined;
  const shutdown = () =>
    stopping ??= (async () => {
      await restyle.close();
      await server.shutdown();
      if (socket) await Deno.remove(socket).catch(() => {});
    })();
  return { ...restyle, url, server, shutdown };
}
