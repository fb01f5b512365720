// Restyle's web page: pick an image and a style, watch previews arrive (SSE), download the result.
// Plain browser JavaScript, no build step; it uses only the public HTTP API (v1).

const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("restyle-token") ?? "";
let job = null; // { id, links, events: EventSource }

/** fetch() against the API with the bearer token when one is set. */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (token) headers.set("Authorization", `Bearer ${token}`);
  const response = await fetch(path, { ...init, headers });
  if (response.status === 401) showToken();
  return response;
}

/** A URL usable where headers cannot be set (EventSource, <img>). */
function withToken(path) {
  return token
    ? `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(token)}`
    : path;
}

/** The problem+json detail of a failed response, or its status line. */
async function problemText(response) {
  try {
    const body = await response.json();
    return body.detail ?? `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

function showToken() {
  document.querySelector(".token").hidden = false;
  $("status").textContent = "This server needs its token (--token / RESTYLE_TOKEN).";
}

function setStatus(text) {
  $("status").textContent = text;
}

async function loadHealth() {
  const response = await api("/v1/health");
  if (!response.ok) {
    $("health").textContent = await problemText(response);
    return;
  }
  const health = await response.json();
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
  const response = await api("/v1/styles");
  if (!response.ok) return;
  const { styles } = await response.json();
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
        src: withToken(style.thumbnail),
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
  const form = new FormData();
  form.append("image", file);
  form.append("title", $("style-title").value || file.name.replace(/\.[^.]+$/, ""));
  const response = await api("/v1/styles", { method: "POST", body: form });
  if (response.status === 409) return (await response.json()).id;
  if (!response.ok) throw new Error(await problemText(response));
  await loadStyles();
  return (await response.json()).id;
}

async function submit(event) {
  event.preventDefault();
  const content = $("content").files[0];
  if (!content) return setStatus("Pick an image first.");
  const form = new FormData();
  form.append("content", content);
  const ownStyle = $("style-file").files[0];
  try {
    if (ownStyle && $("style-save").checked) form.append("style", await saveOwnStyle(ownStyle));
    else if (ownStyle) form.append("styleImage", ownStyle);
    else {
      const picked = document.querySelector('input[name="style"]:checked');
      if (!picked) return setStatus("Pick a style.");
      form.append("style", picked.value);
    }
  } catch (error) {
    return setStatus(`Style upload failed: ${error.message}`);
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
  form.append("options", JSON.stringify(options));

  $("previews").replaceChildren();
  $("download").hidden = true;
  $("latest").hidden = true;
  $("progress").value = 0;
  setStatus("Sending…");
  const response = await api("/v1/jobs", { method: "POST", body: form });
  if (response.status !== 202) return setStatus(`Refused: ${await problemText(response)}`);
  const created = await response.json();
  job = { id: created.id, links: created.links };
  $("run").disabled = true;
  $("cancel").disabled = false;
  follow(job);
}

function follow(current) {
  const events = new EventSource(withToken(current.links.events));
  current.events = events;
  const finish = (text) => {
    events.close();
    $("run").disabled = false;
    $("cancel").disabled = true;
    setStatus(text);
  };
  events.addEventListener("status", (e) => {
    const data = JSON.parse(e.data);
    setStatus(data.status === "queued" ? `Queued (position ${data.position})…` : "Running…");
  });
  events.addEventListener("progress", (e) => showProgress(JSON.parse(e.data)));
  events.addEventListener("tile", (e) => {
    // A big image's iteration runs tile by tile: show it moving.
    const { iteration, iterations, tile, tiles } = JSON.parse(e.data);
    $("progress").max = iterations;
    $("progress").value = iteration - 1 + tile / tiles;
    setStatus(`Iteration ${iteration} of ${iterations} · tile ${tile} of ${tiles}`);
  });
  events.addEventListener("iteration", (e) => {
    const data = JSON.parse(e.data);
    showProgress(data);
    const src = withToken(data.url);
    $("latest").src = src;
    $("latest").hidden = false;
    const thumb = Object.assign(document.createElement("img"), {
      src,
      alt: `iteration ${data.iteration}`,
      title: `iteration ${data.iteration}`,
    });
    thumb.dataset.iteration = data.iteration;
    $("previews").append(thumb);
  });
  events.addEventListener("done", async (e) => {
    const data = JSON.parse(e.data);
    finish(`Done: ${data.iteration} iterations in ${(data.elapsedMs / 1000).toFixed(1)} s.`);
    const png = await api(data.url);
    const link = $("download");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(await png.blob());
    const name = $("content").files[0]?.name.replace(/\.[^.]+$/, "") ?? "restyled";
    link.download = `${name}-restyled.png`;
    link.hidden = false;
  });
  events.addEventListener("error", (e) => {
    if (e.data) finish(`Failed: ${JSON.parse(e.data).detail}`);
    else if (events.readyState === EventSource.CLOSED) finish("Lost the connection to the server.");
  });
  events.addEventListener("cancelled", () => finish("Cancelled."));
}

function showProgress(data) {
  $("progress").max = data.iterations;
  $("progress").value = data.iteration;
  setStatus(
    `Iteration ${data.iteration} of ${data.iterations} · loss ${data.losses.total.toPrecision(4)}`,
  );
}

$("job").addEventListener("submit", submit);
$("cancel").addEventListener("click", async () => {
  if (job) await api(job.links.self, { method: "DELETE" });
});
$("content").addEventListener("change", () => {
  const file = $("content").files[0];
  if (!file) return;
  $("content-preview").src = URL.createObjectURL(file);
  $("content-preview").hidden = false;
});
$("token").addEventListener("change", async () => {
  token = $("token").value.trim();
  localStorage.setItem("restyle-token", token);
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
