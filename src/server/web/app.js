// Restyle's web page: pick an image and a style, watch previews arrive (SSE), download the result.
// Plain browser JavaScript, no build step; it uses only the public HTTP API (v1), through the
// client the Photopea panel uses too.
// Served at /plugin/common/restyle_client.js; from /app.js the "../" above the root stay at the
// root, so the same path names the file in this repository, which `deno check` resolves.
import { RestyleClient } from "../../../plugin/common/restyle_client.js";

const $ = (id) => document.getElementById(id);
const client = new RestyleClient({
  token: localStorage.getItem("restyle-token") ?? "",
  onUnauthorized: showToken,
});
let job = null; // { id, links }

function showToken() {
  document.querySelector(".token").hidden = false;
  $("status").textContent = "This server needs its token (--token / RESTYLE_TOKEN).";
}

function setStatus(text) {
  $("status").textContent = text;
}

async function loadHealth() {
  let health;
  try {
    health = await client.health();
  } catch (error) {
    $("health").textContent = error.detail;
    return;
  }
  const ready = health.networks.filter((n) => n.ready);
  const engine = health.backend ? `${health.backend} on ${health.adapter}` : "engine starting";
  $("health").textContent = `v${health.version} · ${engine} · ` +
    `queue: ${health.queue.running} running, ${health.queue.waiting} waiting`;
  $("network").replaceChildren(...health.networks.map((n) => {
    const option = new Option(n.ready ? n.id : `${n.id} (run: ${n.fetch})`, n.id);
    option.disabled = !n.ready;
    return option;
  }));
  if (ready[0]) $("network").value = ready[0].id;
}

async function loadStyles() {
  let styles;
  try {
    styles = await client.styles();
  } catch {
    return;
  }
  $("styles").replaceChildren(
    ...styles.filter((s) => s.available).map((style, i) => {
      const label = document.createElement("label");
      label.title = [style.title, style.artist, style.year].filter(Boolean).join(", ");
      const radio = Object.assign(document.createElement("input"), {
        type: "radio",
        name: "style",
        value: style.id,
        checked: i === 0,
      });
      const img = Object.assign(document.createElement("img"), {
        src: client.withToken(style.thumbnail),
        alt: style.title,
        loading: "lazy",
      });
      label.append(radio, img, document.createTextNode(style.title));
      return label;
    }),
  );
}

function numberField(id) {
  const value = Number($(id).value);
  return Number.isFinite(value) && $(id).value !== "" ? value : undefined;
}

/** Uploads the user's own painting as a style and returns its id (when asked to keep it). */
async function saveOwnStyle(file) {
  const title = $("style-title").value || file.name.replace(/\.[^.]+$/, "");
  const id = await client.addStyle(file, title);
  await loadStyles();
  return id;
}

async function submit(event) {
  event.preventDefault();
  const content = $("content").files[0];
  if (!content) return setStatus("Pick an image first.");
  let style, styleImage;
  const ownStyle = $("style-file").files[0];
  try {
    if (ownStyle && $("style-save").checked) style = await saveOwnStyle(ownStyle);
    else if (ownStyle) styleImage = ownStyle;
    else {
      const picked = document.querySelector('input[name="style"]:checked');
      if (!picked) return setStatus("Pick a style.");
      style = picked.value;
    }
  } catch (error) {
    return setStatus(`Style upload failed: ${error.detail}`);
  }
  const options = {
    network: $("network").value || undefined,
    iterations: numberField("iterations"),
    maxSize: numberField("maxSize"),
    previewEvery: numberField("previewEvery"),
    maxDetailSize: numberField("maxDetailSize"),
    detailIterations: numberField("detailIterations"),
    preserveColors: $("preserve-colors").checked || undefined,
  };

  $("previews").replaceChildren();
  $("download").hidden = true;
  $("latest").hidden = true;
  $("progress").value = 0;
  setStatus("Sending…");
  const mask = $("mask").files[0];
  let created;
  try {
    created = await client.submit({
      content,
      style,
      styleImage,
      masks: mask ? [mask] : [],
      options,
    });
  } catch (error) {
    return setStatus(`Refused: ${error.detail}`);
  }
  job = { id: created.id, links: created.links };
  $("run").disabled = true;
  $("cancel").disabled = false;
  follow(job);
}

async function follow(current) {
  const finish = (text) => {
    $("run").disabled = false;
    $("cancel").disabled = true;
    setStatus(text);
  };
  let done;
  try {
    done = await client.follow(current, {
      onEvent(event, data) {
        if (event === "status") {
          setStatus(data.status === "queued" ? `Queued (position ${data.position})…` : "Running…");
        } else if (event === "progress") showProgress(data);
        else if (event === "tile") {
          // A big image's iteration runs tile by tile: show it moving.
          const { iteration, iterations, tile, tiles } = data;
          $("progress").max = iterations;
          $("progress").value = iteration - 1 + tile / tiles;
          setStatus(`Iteration ${iteration} of ${iterations} · tile ${tile} of ${tiles}`);
        }
      },
      onPreview(data) {
        showProgress(data);
        const src = client.withToken(data.url);
        $("latest").src = src;
        $("latest").hidden = false;
        const thumb = Object.assign(document.createElement("img"), {
          src,
          alt: `iteration ${data.iteration}`,
          title: `iteration ${data.iteration}`,
        });
        thumb.dataset.iteration = data.iteration;
        $("previews").append(thumb);
      },
    });
  } catch (error) {
    if (error.reason === "cancelled") finish("Cancelled.");
    else if (error.reason === "unreachable") finish("Lost the connection to the server.");
    else finish(`Failed: ${error.detail ?? error.message}`);
    return;
  }
  finish(`Done: ${done.iteration} iterations in ${(done.elapsedMs / 1000).toFixed(1)} s.`);
  const png = await client.image(done.url);
  const link = $("download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(png);
  const name = $("content").files[0]?.name.replace(/\.[^.]+$/, "") ?? "restyled";
  link.download = `${name}-restyled.png`;
  link.hidden = false;
}

function showProgress(data) {
  $("progress").max = data.iterations;
  $("progress").value = data.iteration;
  // A preview found by polling (the event stream broke) comes without its losses.
  const loss = data.losses ? ` · loss ${data.losses.total.toPrecision(4)}` : "";
  setStatus(`Iteration ${data.iteration} of ${data.iterations}${loss}`);
}

$("job").addEventListener("submit", submit);
$("cancel").addEventListener("click", async () => {
  if (job) await client.cancel(job.id);
});
$("content").addEventListener("change", () => {
  const file = $("content").files[0];
  if (!file) return;
  $("content-preview").src = URL.createObjectURL(file);
  $("content-preview").hidden = false;
});
$("token").addEventListener("change", async () => {
  client.token = $("token").value.trim();
  localStorage.setItem("restyle-token", client.token);
  await Promise.all([loadHealth(), loadStyles()]);
});

/** Bounds, defaults and help of the form's number fields, from the options table. */
async function loadFields() {
  const { options } = await (await fetch("/fields.json")).json();
  for (const option of options) {
    const input = $(option.name);
    if (input?.type !== "number") continue;
    const { minimum: min, maximum: max, default: value, help: title } = option;
    Object.assign(input, { min, max, value, title });
  }
}

await Promise.all([loadFields(), loadHealth(), loadStyles()]);
