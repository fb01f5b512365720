/**
 * @module The Restyle HTTP API (v1) in the browser: the web page at `/` and the Photopea panel.
 *
 * Both pages are served by the Restyle server, and so is this module
 * (`/plugin/common/restyle_client.js`), so every call goes to the server's own
 * origin. A token, when the server requires one, is sent as a bearer token.
 *
 * ```js
 * const client = new RestyleClient({ token });
 * const job = await client.submit({ content: pngBlob, style: styleId, options: {} });
 * const done = await client.follow(job, { onPreview: ({ iteration, url }) => show(url) });
 * ```
 */

/**
 * A failure to show the user. `reason` says what failed: `"unreachable"` (no answer),
 * `"refused"` (an HTTP error: `status`, and the server's `problem`), `"failed"` (the job
 * failed) or `"cancelled"` (the job was cancelled). `detail` is the problem's detail, or
 * the status line.
 */
export class RestyleError extends Error {
  /**
   * @param {string} message
   * @param {{reason: string, status?: number, detail?: string, problem?: object}} details
   */
  constructor(message, { reason, status = 0, detail = message, problem = undefined }) {
    super(message);
    this.name = "RestyleError";
    Object.assign(this, { reason, status, detail, problem });
  }
}

/** A client for the server this page came from (or `base`). */
export class RestyleClient {
  /**
   * @param {{token?: string, base?: string, onUnauthorized?: () => void}} [options]
   *   `onUnauthorized` runs whenever the server answers 401 (ask for the token).
   */
  constructor({ token = "", base = "", onUnauthorized = undefined } = {}) {
    this.token = token;
    this.base = base;
    this.onUnauthorized = onUnauthorized;
  }

  headers(extra = {}) {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  /** `path` with the token in its query, for what cannot send headers (`<img src>`). */
  withToken(path) {
    if (!this.token) return path;
    return `${path}${path.includes("?") ? "&" : "?"}access_token=${encodeURIComponent(this.token)}`;
  }

  /** A successful response to `path`; a RestyleError otherwise. */
  async request(path, init = {}) {
    let response;
    try {
      response = await fetch(this.base + path, { ...init, headers: this.headers(init.headers) });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new RestyleError(
        `Cannot reach the Restyle server (${error.message}). Start it with: deno task serve`,
        { reason: "unreachable" },
      );
    }
    if (!response.ok) {
      if (response.status === 401) this.onUnauthorized?.();
      throw await refusal(response);
    }
    return response;
  }

  /** The JSON answer to a GET of `path`. */
  async json(path, init = {}) {
    const headers = { Accept: "application/json", ...init.headers };
    return await (await this.request(path, { ...init, headers })).json();
  }

  /** `GET /v1/health`: the server's state, networks and queue. */
  async health() {
    return await this.json("/v1/health");
  }

  /** @returns {Promise<{id: string, title: string, artist?: string, year?: number}[]>} */
  async styles() {
    return (await this.json("/v1/styles")).styles ?? [];
  }

  /** Keeps an image as a style titled `title`; its id (the existing one for the same image). */
  async addStyle(image, title) {
    const form = new FormData();
    form.append("image", image);
    form.append("title", title);
    try {
      const response = await this.request("/v1/styles", { method: "POST", body: form });
      return (await response.json()).id;
    } catch (error) {
      if (error.status === 409 && error.problem?.id) return error.problem.id;
      throw error;
    }
  }

  /**
   * Submits a job: the `content` image (a Blob or File), a style id or a style image,
   * the masks saying where the style paints (none, or one; white styled, black or
   * transparent untouched), and options; the created job (`{id, links}`).
   *
   * @param {{content: Blob, style?: string, styleImage?: File, masks?: Blob[], options: object}} job
   */
  async submit({ content, style, styleImage, masks = [], options }) {
    const form = new FormData();
    form.append("content", content, content.name || "layer.png");
    if (style) form.append("style", style);
    if (styleImage) form.append("styleImage", styleImage, styleImage.name || "style.png");
    masks.forEach((mask, i) => form.append("mask", mask, mask.name || `mask-${i}.png`));
    form.append("options", JSON.stringify(options));
    const response = await this.request("/v1/jobs", {
      method: "POST",
      body: form,
      headers: { Accept: "application/json" },
    });
    return await response.json();
  }

  /** The job's server-sent events as `{event, data}` (`data` parsed), until the server ends them. */
  async *events(job, signal) {
    const path = job.links?.events ?? `/v1/jobs/${job.id}/events`;
    const response = await this.request(path, { headers: { Accept: "text/event-stream" }, signal });
    for await (const { event, data } of readEvents(response.body)) {
      yield { event, data: data.startsWith("{") ? JSON.parse(data) : {} };
    }
  }

  /**
   * Follows a job until it ends. Calls `onPreview({iteration, iterations, url, ...})` once
   * for every preview, oldest first (awaited), and `onEvent(event, data)` for the others the
   * stream sends (`status`, `progress`, `tile`). Reads the event stream, then the job's state
   * (polled while it runs, when the stream cannot be had or breaks), which brings any preview
   * the stream missed. Resolves with `{iteration, iterations, url, elapsedMs}` of the result;
   * rejects with a RestyleError whose `reason` is `"failed"` or `"cancelled"` when the job
   * did not finish, and as `signal` aborts.
   */
  async follow(job, { onPreview = undefined, onEvent = undefined, signal = undefined } = {}) {
    const seen = new Set();
    const preview = async (p) => {
      if (seen.has(p.iteration)) return;
      seen.add(p.iteration);
      await onPreview?.(p);
    };
    let done;
    const stream = this.events(job, signal);
    for (;;) {
      let next;
      try {
        next = await stream.next();
      } catch (error) {
        if (signal?.aborted) throw error;
        break; // the stream broke or could not be had: the job's state tells the rest
      }
      if (next.done) break;
      const { event, data } = next.value;
      if (event === "iteration" && data.url) await preview(data);
      else if (event === "error") throw failure(data);
      else if (event === "cancelled") throw cancellation();
      else if (event === "done") {
        done = data;
        break;
      } else onEvent?.(event, data);
    }
    await stream.return();
    for (;;) {
      const state = await this.json(`/v1/jobs/${job.id}`, { signal });
      for (const image of state.images ?? []) {
        await preview({ ...image, iterations: state.iterations });
      }
      if (state.status === "done") {
        const elapsedMs = Date.parse(state.finishedAt) - Date.parse(state.startedAt);
        const { iteration, iterations } = state;
        return done ?? { iteration, iterations, url: state.links?.latest, elapsedMs };
      }
      if (state.status === "failed") throw failure(state.error);
      if (state.status === "cancelled") throw cancellation();
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** The image at `url` (a preview, the result) as a Blob. */
  async image(url) {
    return await (await this.request(url, { headers: { Accept: "image/png" } })).blob();
  }

  /** The image at `url` as a `data:image/png;base64,` URL. */
  async imageDataUrl(url) {
    const bytes = new Uint8Array(await (await this.image(url)).arrayBuffer());
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return `data:image/png;base64,${btoa(binary)}`;
  }

  /** Cancels a job; errors are ignored (it may have finished). */
  async cancel(id) {
    await this.request(`/v1/jobs/${id}`, { method: "DELETE" }).catch(() => {});
  }
}

/** The error for an HTTP error answer, from its problem+json when there is one. */
async function refusal(response) {
  let problem;
  try {
    problem = await response.json();
  } catch {
    // not problem+json
  }
  const text = problem?.detail
    ? `${problem.title}: ${problem.detail}`
    : problem?.title ?? response.statusText;
  return new RestyleError(`Restyle server answered ${response.status}: ${text}`, {
    reason: "refused",
    status: response.status,
    detail: problem?.detail ?? `${response.status} ${response.statusText}`,
    problem,
  });
}

/** The error for a job that failed, from its problem (or whatever the server said). */
function failure(problem) {
  const detail = problem?.detail ?? problem?.error ?? problem?.title ?? JSON.stringify(problem);
  return new RestyleError(`Restyle failed: ${detail}`, { reason: "failed", detail });
}

function cancellation() {
  return new RestyleError("The job was cancelled.", { reason: "cancelled" });
}

/** Parses a text/event-stream body into {event, data} records; stopping early cancels it. */
async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "message";
  let data = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.search(/\r?\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(buffer[newline] === "\r" ? newline + 2 : newline + 1);
        if (line === "") {
          if (data.length) yield { event, data: data.join("\n") };
          event = "message";
          data = [];
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const key = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (key === "event") event = value;
          else if (key === "data") data.push(value);
        }
      }
    }
    if (data.length) yield { event, data: data.join("\n") };
  } finally {
    await reader.cancel().catch(() => {});
  }
}
