/**
 * @module A pthread worker for tfjs-backend-wasm under Deno's `node:worker_threads`.
 *
 * The backend's Emscripten glue starts each pthread worker from a `blob:` URL
 * holding its worker script, and later hands it the main script as a Blob;
 * Node's `worker_threads` (which Deno emulates) takes neither. This file is the
 * real worker: it fetches both blobs, gives the glue the globals its bundle
 * provides on the main thread, and defers messages until the main script is in.
 * See `src/_wasm_threads.ts`.
 */
import { createRequire } from "node:module";
import { workerData } from "node:worker_threads";

const require = createRequire(import.meta.url);
const { workerUrl, bundleFile } = workerData;
const workerSource = await (await fetch(workerUrl)).text();

// Deno's `location` is read-only; the glue assigns it on Node.
Object.defineProperty(globalThis, "location", {
  value: undefined,
  writable: true,
  configurable: true,
});
// Free names the glue's factory uses, bound by the rollup bundle on the main thread.
Object.assign(globalThis, {
  require,
  __filename: bundleFile,
  __dirname: bundleFile.replace(/\/[^/]*$/, ""),
  _scriptDir: bundleFile,
  commonjsGlobal: globalThis,
  require$$0: require("node:fs"),
  require$$1: require("node:path"),
  require$$3: require("node:perf_hooks"),
  require$$4: require("node:os"),
});
(0, eval)(workerSource);

const handle = globalThis.onmessage;
const readFile = globalThis.importScripts;
let ready = Promise.resolve();
globalThis.onmessage = (event) => {
  const main = event.data?.urlOrBlob;
  if (event.data?.cmd === "load" && main instanceof Blob) {
    ready = main.text().then((source) => {
      globalThis.importScripts = () => (0, eval)(source);
      handle(event);
      globalThis.importScripts = readFile;
    });
  } else {
    ready = ready.then(() => handle(event));
  }
};
