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
  ${LAYER_AT}
  for (var i = 0; i < saved.length; i++) {
    var layer = layerAt(saved[i][0]);
    if (layer) layer.visible = saved[i][1];
  }
})();`;
}

/** Script text defining `layerAt(path)`: the layer at an index path, or null. */
const LAYER_AT = `function layerAt(path) {
    var layers = app.activeDocument.layers, layer = null;
    for (var j = 0; j < path.length; j++) {
      layer = layers[path[j]];
      if (!layer) return null;
      layers = layer.layers;
    }
    return layer;
  }`;

/** The name of the temporary layer that holds the selection while it is exported. */
const SELECTION_LAYER = "Restyle selection";

// When there is a selection: records every layer's visibility and the active layer's path,
// adds a layer, fills the selection on it with white and shows that layer alone. Undone by
// removeSelectionLayerScript(), at once if anything fails here.
const SELECTION_AS_LAYER = `(function () {
  var doc = app.activeDocument, active = doc.activeLayer, saved = [], activePath = null, mask = null;
  ${LAYER_AT}
  try {
    var bounds = null;
    try {
      bounds = doc.selection.bounds;
    } catch (e) {
      bounds = null; // no selection
    }
    if (!bounds || !(Number(bounds[2]) > Number(bounds[0]) && Number(bounds[3]) > Number(bounds[1]))) {
      app.echoToOE(JSON.stringify({ selection: false }));
      return;
    }
    (function record(layers, path) {
      for (var i = 0; i < layers.length; i++) {
        var layer = layers[i], at = path.concat([i]);
        saved.push([at, layer.visible]);
        if (layer == active) activePath = at;
        if (layer.typename == "LayerSet") record(layer.layers, at);
      }
    })(doc.layers, []);
    mask = doc.artLayers.add();
    mask.name = ${JSON.stringify(SELECTION_LAYER)};
    var white = new SolidColor();
    white.rgb.red = 255;
    white.rgb.green = 255;
    white.rgb.blue = 255;
    doc.selection.fill(white);
    (function hide(layers) {
      var holdsMask = false;
      for (var i = 0; i < layers.length; i++) {
        var layer = layers[i], keep = layer == mask;
        if (layer.typename == "LayerSet" && hide(layer.layers)) keep = true;
        layer.visible = keep;
        if (keep) holdsMask = true;
      }
      return holdsMask;
    })(doc.layers);
    app.echoToOE(JSON.stringify({ selection: true, visibility: saved, active: activePath }));
  } catch (e) {
    if (mask) mask.remove();
    for (var i = 0; i < saved.length; i++) {
      var layer = layerAt(saved[i][0]);
      if (layer) layer.visible = saved[i][1];
    }
    app.echoToOE(JSON.stringify({ error: String(e) }));
  }
})();`;

function removeSelectionLayerScript(visibility, activePath) {
  return `(function () {
  var doc = app.activeDocument;
  ${LAYER_AT}
  (function remove(layers) {
    for (var i = 0; i < layers.length; i++) {
      var layer = layers[i];
      if (layer.typename == "LayerSet") {
        if (remove(layer.layers)) return true;
      } else if (layer.name == ${JSON.stringify(SELECTION_LAYER)}) {
        layer.remove();
        return true;
      }
    }
    return false;
  })(doc.layers);
  var saved = ${JSON.stringify(visibility)};
  for (var i = 0; i < saved.length; i++) {
    var layer = layerAt(saved[i][0]);
    if (layer) layer.visible = saved[i][1];
  }
  var active = layerAt(${JSON.stringify(activePath ?? [])});
  if (active) doc.activeLayer = active;
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
 * Exports the selection as a mask at the document's size, as PNG bytes: white where selected,
 * transparent elsewhere (its alpha is the selection, soft edges included); null when nothing
 * is selected. A temporary layer holds it while it is exported; the layers, their visibility
 * and the active layer are as they were afterwards (even when the export fails).
 *
 * @returns {Promise<ArrayBuffer | null>}
 */
export async function exportSelectionMask() {
  const [answer] = await runScript(SELECTION_AS_LAYER);
  const state = JSON.parse(typeof answer === "string" ? answer : "{}");
  if (state.error) throw new Error(`Photopea could not export the selection (${state.error})`);
  if (!state.selection) return null;
  try {
    const messages = await runScript(`app.activeDocument.saveToOE("png");`);
    const png = messages.find((m) => m instanceof ArrayBuffer);
    if (!png) throw new Error("Photopea did not export the selection as PNG");
    return png;
  } finally {
    await runScript(removeSelectionLayerScript(state.visibility, state.active));
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
