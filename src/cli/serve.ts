/**
 * @module `deno task serve`: the HTTP API, the web page and the Photopea plug-in page.
 *
 * ```sh
 * deno task serve [--port 8787] [--host 127.0.0.1] [--socket PATH]
 *                 [--token T | --token-file PATH | --generate-token]
 *                 [--allow-origin URL]... [--allow-host NAME]... [--allow-photopea]
 * ```
 *
 * Fetches missing catalogue styles first (from `RESTYLE_MIRROR/images` when
 * set), listens at once (`/v1/health` says `starting` while the engine process
 * picks its backend and loads the default network), prints where, which
 * networks are ready and the command that fetches the others, then the backend
 * once the engine is ready; stops on Ctrl-C / SIGTERM whatever the engine does.
 */
import { parseArgs } from "node:util";
import { defaultTokenFile, mirrorDir, tokenSetting } from "../config.ts";
import { networkReady } from "../net/load.ts";
import { NETWORK_IDS } from "../net/network.ts";
import { tokenFromFile } from "../server/guard.ts";
import { startServer } from "../server/serve.ts";
import { fetchCatalogue, missingStyles } from "../styles/catalogue.ts";
import { weightsCommand } from "../weights/install.ts";

const USAGE = `usage: deno task serve [--port N] [--host H] [--socket PATH]
                       [--token T | --token-file PATH | --generate-token]
                       [--allow-origin URL]... [--allow-host NAME]... [--allow-photopea]

  --port N          TCP port (default 8787; 0 picks a free one)
  --host H          address to bind (default 127.0.0.1; off loopback a token is required)
  --socket PATH     serve on a Unix socket (mode 0600) instead of TCP
  --token T         require "Authorization: Bearer T" on /v1 (default: $RESTYLE_TOKEN;
                    visible to other users in ps: prefer --token-file)
  --token-file P    require the token kept in file P (made, mode 0600, when missing)
  --generate-token  --token-file ${defaultTokenFile()}, where plug-ins look
  --allow-origin U  let web pages from origin U call the API
  --allow-photopea  let Photopea's origins call the API (its plug-in page needs no opt-in)
  --allow-host N    accept Host header N besides loopback names`;

/** Parses the command line; exits with the usage on errors. */
function options(args: string[]) {
  try {
    const { values } = parseArgs({
      args,
      options: {
        port: { type: "string", default: "8787" },
        host: { type: "string", default: "127.0.0.1" },
        socket: { type: "string" },
        token: { type: "string" },
        "token-file": { type: "string" },
        "generate-token": { type: "boolean" },
        "allow-photopea": { type: "boolean" },
        "allow-origin": { type: "string", multiple: true, default: [] },
        "allow-host": { type: "string", multiple: true, default: [] },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(USAGE);
      Deno.exit(0);
    }
    const port = Number(values.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new Error(`--port must be an integer 0..65535, got "${values.port}"`);
    }
    return { ...values, port, token: values.token ?? tokenSetting() };
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    Deno.exit(2);
  }
}

const args = options(Deno.args);
const tokenFile = args["token-file"] ?? (args["generate-token"] ? defaultTokenFile() : undefined);
if (tokenFile) {
  try {
    args.token = await tokenFromFile(tokenFile);
  } catch (error) {
    console.error(`restyle serve: ${(error as Error).message}`);
    Deno.exit(1);
  }
}

const missing = await missingStyles();
if (missing.length) {
  const from = mirrorDir() ? `the mirror ${mirrorDir()}/images` : "their public URLs";
  console.log(`fetching ${missing.length} catalogue styles from ${from}…`);
  await fetchCatalogue({ styles: missing }).catch((error) =>
    console.warn(`warning: styles not fetched: ${error.message}`)
  );
}

let running;
try {
  running = await startServer({
    hostname: args.host,
    port: args.port,
    socket: args.socket,
    token: args.token || undefined,
    allowedOrigins: args["allow-origin"],
    allowPhotopea: args["allow-photopea"],
    allowedHosts: args["allow-host"].length ? args["allow-host"] : undefined,
  });
} catch (error) {
  console.error(`restyle serve: ${(error as Error).message}`);
  Deno.exit(1);
}

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) Deno.exit(1); // a second Ctrl-C: now
  stopping = true;
  console.log(`\n${signal}: cancelling jobs and stopping…`);
  // The engine runs in its own process, so this event loop is free; still, never hang here.
  setTimeout(() => Deno.exit(1), 10_000);
  await running.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", () => stop("SIGINT"));
Deno.addSignalListener("SIGTERM", () => stop("SIGTERM"));

const tokenNote = tokenFile
  ? ` (bearer token required: it is in ${tokenFile})`
  : " (bearer token required)";
console.log(`Restyle listening on ${running.url}${args.token ? tokenNote : ""}`);
for (const id of NETWORK_IDS) {
  const ready = await networkReady(id);
  console.log(`  ${id}: ${ready ? "ready" : `weights missing — run: ${weightsCommand(id)}`}`);
}
if (!args.socket) console.log(`  web page: ${running.url}/   API docs: ${running.url}/docs`);
running.engine?.ready().then(
  () => {
    const { backend, startMs } = running.engine!.status();
    console.log(`  engine ready in ${startMs} ms: ${backend!.backend} on ${backend!.adapter}`);
  },
  (error) => console.error(`  engine: ${error.message}`),
);
