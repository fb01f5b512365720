/**
 * @module The Restyle panel inside Photopea: pick a style, run, get one layer per preview.
 *
 * With a selection, "Selection: paint inside" (the default) sends it as the style's mask, so
 * the style is matched inside it alone; "mask the result" restyles the whole layer. In both,
 * each preview is masked by the selection before it becomes a layer.
 */
import { addLayer, exportActiveLayer, exportSelectionMask, insideEditor } from "./photopea.js";
import { RestyleClient } from "../common/restyle_client.js";

const UPLOAD = "__upload__";
/** The options this panel shows, from the server's options table (`deno task plugin-options`). */
const { options: OPTIONS } = await (await fetch(new URL("./fields.json", import.meta.url))).json();
const $ = (id) => document.getElementById(id);
const form = $("form");
const statusLine = $("status");
const progress = $("progress");
let running = null; // { client, jobId, abort }

function show(text, { error = false } = {}) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", error);
  document.body.dataset.state = error ? "error" : running ? "running" : "idle";
}

function client() {
  return new RestyleClient({ token: $("token").value.trim() });
}

async function loadStyles() {
  const select = $("style");
  select.replaceChildren();
  try {
    for (const style of await client().styles()) {
      const label = [style.title ?? style.id, style.artist, style.year && `(${style.year})`]
        .filter(Boolean).join(" — ").replace(" — (", " (");
      select.append(new Option(label, style.id));
    }
    show(select.options.length ? "" : "The server has no styles yet: upload one.");
  } catch (error) {
    show(error.message, { error: true });
  }
  select.append(new Option("Upload a style image…", UPLOAD));
  $("upload").hidden = select.value !== UPLOAD;
}

/** A labelled form field for an option: a number, a range for strength-like ones, or a list. */
function optionField(option) {
  const label = document.createElement("label");
  label.htmlFor = option.name;
  label.textContent = option.label;
  let input;
  if (option.kind === "choice") {
    input = document.createElement("select");
    for (const choice of option.choices) input.append(new Option(choice.label, choice.nick));
    input.value = option.choices.find((c) => c.value === option.default)?.nick ?? "";
  } else {
    input = document.createElement("input");
    input.type = option.kind === "number" ? "range" : "number";
    Object.assign(input, { min: option.minimum, max: option.maximum, value: option.default });
    if (option.kind === "number") {
      const value = document.createElement("span");
      value.textContent = ` ${option.default}`;
      input.addEventListener("input", () => (value.textContent = ` ${input.value}`));
      label.append(value);
    }
  }
  input.id = input.name = option.name;
  input.title = option.help;
  const field = document.createElement("div");
  field.append(label, input);
  return field;
}

/** A preview as a data URL, its alpha multiplied by the mask's (the selection) when given. */
async function previewDataUrl(api, url, mask) {
  if (!mask) return await api.imageDataUrl(url);
  const [image, selection] = await Promise.all([
    createImageBitmap(await api.image(url)),
    createImageBitmap(new Blob([mask], { type: "image/png" })),
  ]);
  const canvas = document.createElement("canvas");
  canvas.width = image.width;
  canvas.height = image.height;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  context.globalCompositeOperation = "destination-in";
  context.drawImage(selection, 0, 0, image.width, image.height);
  return canvas.toDataURL("image/png");
}

function readOptions() {
  return Object.fromEntries(OPTIONS.map((option) => {
    const text = $(option.name).value;
    if (option.kind !== "choice") return [option.name, Number(text)];
    return [option.name, option.choices.find((c) => c.nick === text)?.value ?? option.default];
  }));
}

async function restyle() {
  const api = client();
  const style = $("style").value;
  const styleImage = style === UPLOAD ? $("styleFile").files[0] : undefined;
  if (style === UPLOAD && !styleImage) throw new Error("Choose a style image file first.");
  const options = readOptions();
  const abort = new AbortController();
  running = { api, jobId: null, abort };
  $("run").disabled = true;
  $("cancel").hidden = false;
  progress.hidden = false;
  progress.value = 0;

  show("Exporting the active layer…");
  const layer = await exportActiveLayer();
  const mask = await exportSelectionMask();
  const paintInside = $("selection").value === "paint-inside";
  show(`Sending “${layer.name}”…`);
  const job = await api.submit({
    content: new Blob([layer.png], { type: "image/png" }),
    style: styleImage ? undefined : style,
    styleImage,
    masks: mask && paintInside ? [new Blob([mask], { type: "image/png" })] : [],
    options,
  });
  running.jobId = job.id;
  show("Waiting for the first preview…");
  let added = 0;
  await api.follow(job, {
    signal: abort.signal,
    async onPreview({ iteration, iterations, url }) {
      await addLayer(await previewDataUrl(api, url, mask));
      added++;
      progress.value = iteration / (iterations || options.iterations);
      show(
        `Iteration ${iteration} of ${iterations || options.iterations}: ${added} layer(s) added`,
      );
    },
    onEvent(event, { iteration, iterations, tile, tiles }) {
      if (event !== "tile") return;
      // A big layer's iteration runs tile by tile: show it moving.
      progress.value = (iteration - 1 + tile / tiles) / (iterations || options.iterations);
      show(`Iteration ${iteration}, tile ${tile} of ${tiles}: ${added} layer(s) added`);
    },
  });
  progress.value = 1;
  return added;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (running) return;
  if (!insideEditor()) {
    show("Open this page as a Photopea plug-in (see the Restyle README).", { error: true });
    return;
  }
  try {
    const added = await restyle();
    running = null;
    show(`Done: ${added} preview layer(s) added.`);
  } catch (error) {
    const wasCancelled = running?.abort.signal.aborted;
    running = null;
    show(wasCancelled ? "Cancelled." : error.message, { error: !wasCancelled });
  } finally {
    running = null;
    $("run").disabled = false;
    $("cancel").hidden = true;
  }
});

$("cancel").addEventListener("click", async () => {
  if (!running) return;
  running.abort.abort();
  if (running.jobId) await running.api.cancel(running.jobId);
});

$("style").addEventListener("change", () => {
  $("upload").hidden = $("style").value !== UPLOAD;
});
$("token").addEventListener("change", loadStyles);

$("options").append(...OPTIONS.map(optionField));
loadStyles();
