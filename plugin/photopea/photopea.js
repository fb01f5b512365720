/**
 * @module Talks to Photopea from a plug-in iframe.
 *
 * Photopea runs every string posted to it with `window.parent.postMessage` as
 * a script, posts back what the script hands to `app.echoToOE(...)` (strings)
 * and `saveToOE(...)` (ArrayBuffers), and ends every script with the string
 * `"done"`. Scripts therefore run one at a time here: each call of
 * {@linkcode runScript} resolves with the messages that came before its "done".
 */

/** @type {{script: string, resolve: Function, reject: Function}[]} */
const queue = [];
/** @type {{messages: unknown[], resolve: Function, reject: Function} | null} */
let current = null;
/** Milliseconds a script may take before its promise rejects. */
const SCRIPT_TIMEOUT_MS = 120_000;
let timer = 0;

globalThis.addEventListener("message", (event) => {
  if (event.source !== globalThis.parent || !current) return;
  if (event.data === "done") {
    const { messages, resolve } = current;
    finish();
    resolve(messages);
  } else {
    current.messages.push(event.data);
  }
});

function finish() {
  clearTimeout(timer);
  current = null;
  next();
}

function next() {
  if (current || queue.length === 0) return;
  const { script, resolve, reject } = queue.shift();
  current = { messages: [], resolve, reject };
  timer = setTimeout(() => {
    const { reject: fail } = current;
    finish();
    fail(new Error("Photopea did not answer a script within 2 minutes"));
  }, SCRIPT_TIMEOUT_MS);
  globalThis.parent.postMessage(script, "*");
}

/** True when this page runs inside a frame (Photopea's plug-in panel). */
export function insideEditor() {
  return globalThis.parent !== globalThis;
}

/**
 * Runs one script in Photopea and resolves with the messages it echoed
 * (strings and ArrayBuffers), in order, once Photopea answered "done".
 *
 * @param {string} script
 * @returns {Promise<unknown[]>}
 */
export function runScript(script) {
  return new Promise((resolve, reject) => {
    queue.push({ script, resolve, reject });
    next();
  });
}

// Layers are addressed by their index path from the document root (e.g. [0, 2]),
// because objects do not survive from one script to the next.
const HIDE_ALL_BUT_ACTIVE = `(function () {
  try {
    var doc = app.activeDocument, active = doc.activeLayer, saved = [];
    function walk(layers, path) {
      var holdsActive = false;
      for (var i = 0; i < layers.length; i++) {
        var layer = layers[i], at = path.concat([i]), keep = layer == active;
        saved.push([at, layer.visible]);
        if (layer.typename == "LayerSet" && walk(layer.layers, at)) keep = true;
        layer.visible = keep;
        if (keep) holdsActive = true;
      }
      return holdsActive;
    }
    walk(doc.layers, []);
    app.echoToOE(JSON.stringify({ name: active.name, visibility: saved }));
  } catch (e) {
    app.echoToOE(JSON.stringify({ error: String(e) }));
  }
})();`;

function restoreScript(visibility) {
  return `(function () {
  var saved = ${JSON.stringify(visibility)}, doc = app.activeDocument;
  for (var i = 0; i < saved.length; i++) {
    var path = saved[i][0], layers = doc.layers, layer = null;
    for (var j = 0; j < path.length; j++) {
      layer = layers[path[j]];
      if (!layer) break;
      layers = layer.layers;
    }
    if (layer) layer.visible = saved[i][1];
  }
})();`;
}

/**
 * Exports the active layer alone, at the document's size, as PNG bytes: hides
 * every other layer, asks for `saveToOE("png")`, and restores each layer's
 * visibility as it was (even when the export fails).
 *
 * @returns {Promise<{name: string, png: ArrayBuffer}>}
 */
export async function exportActiveLayer() {
  const [answer] = await runScript(HIDE_ALL_BUT_ACTIVE);
  const state = JSON.parse(typeof answer === "string" ? answer : "{}");
  if (!state.visibility) {
    throw new Error(
      `Photopea has no active layer to restyle${state.error ? ` (${state.error})` : ""}`,
    );
  }
  try {
    const messages = await runScript(`app.activeDocument.saveToOE("png");`);
    const png = messages.find((m) => m instanceof ArrayBuffer);
    if (!png) throw new Error("Photopea did not export the layer as PNG");
    return { name: state.name, png };
  } finally {
    await runScript(restoreScript(state.visibility));
  }
}

/**
 * Adds an image to the open document as a new layer (`app.open(url, null, true)`).
 *
 * @param {string} dataUrl a `data:image/png;base64,...` URL
 */
export async function addLayer(dataUrl) {
  await runScript(`app.open(${JSON.stringify(dataUrl)}, null, true);`);
}
