/**
 * @module The Restyle HTTP API (v1) as this page needs it: styles, a job, its previews.
 *
 * The page is served by the Restyle server itself, so every call goes to its
 * own origin. A token, when the server requires one, is sent as a bearer token.
 */

/** A client for the server this page came from. */
export class RestyleClient {
  /** @param {{token?: string, base?: string}} [options] */
  constructor({ token = "", base = "" } = {}) {
    this.token = token;
    this.base = base;
  }

  headers(extra = {}) {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  async request(path, init = {}) {
    let response;
    try {
      response = await fetch(this.base + path, {
        ...init,
        headers: this.headers(init.headers),
      });
    } catch (error) {
      throw new Error(
        `Cannot reach the Restyle server (${error.message}). Start it with: deno task serve`,
      );
    }
    if (!response.ok) throw new Error(await describeProblem(response));
    return response;
  }

  /** @returns {Promise<{id: string, title: string, artist?: string, year?: number}[]>} */
  async styles() {
    const response = await this.request("/v1/styles", { headers: { Accept: "application/json" } });
    return (await response.json()).styles ?? [];
  }

  /**
   * Submits a job: `content` PNG, a style id or a style image, and options.
   *
   * @param {{content: Blob, style?: string, styleImage?: File, options: object}} job
   */
  async submit({ content, style, styleImage, options }) {
    const form = new FormData();
    form.append("content", content, "layer.png");
    if (style) form.append("style", style);
    if (styleImage) form.append("styleImage", styleImage, styleImage.name || "style.png");
    form.append("options", JSON.stringify(options));
    const response = await this.request("/v1/jobs", {
      method: "POST",
      body: form,
      headers: { Accept: "application/json" },
    });
    return await response.json();
  }

  /**
   * Follows a job: calls `onPreview({iteration, iterations, url})` for every
   * preview (from the event stream, then any the stream missed from the job's
   * state), `onTile({iteration, iterations, tile, tiles})` as a big layer's
   * iteration goes tile by tile, and resolves when the job is done. Rejects when
   * it fails or is cancelled.
   */
  async follow(job, onPreview, signal, onTile) {
    const seen = new Set();
    const preview = async (p) => {
      if (seen.has(p.iteration)) return;
      seen.add(p.iteration);
      await onPreview(p);
    };
    const events = job.links?.events ?? `/v1/jobs/${job.id}/events`;
    try {
      const response = await this.request(events, {
        headers: { Accept: "text/event-stream" },
        signal,
      });
      for await (const { event, data } of readEvents(response.body)) {
        const payload = data.startsWith("{") ? JSON.parse(data) : {};
        if (event === "iteration" && payload.url) await preview(payload);
        else if (event === "tile") onTile?.(payload);
        else if (event === "error") {
          throw new Error(`Restyle failed: ${payload.detail ?? payload.error ?? data}`);
        } else if (event === "cancelled") throw new Error("The job was cancelled.");
        else if (event === "done") break;
      }
    } catch (error) {
      if (signal?.aborted || /Restyle failed|cancelled/.test(error.message)) throw error;
      // stream unavailable: the polling below still gets every preview
    }
    for (;;) {
      const response = await this.request(`/v1/jobs/${job.id}`, { signal });
      const state = await response.json();
      for (const image of state.images ?? []) {
        await preview({ ...image, iterations: state.iterations });
      }
      if (state.status === "done") return seen.size;
      if (state.status === "failed") throw new Error(`Restyle failed: ${state.error}`);
      if (state.status === "cancelled") throw new Error("The job was cancelled.");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** The preview at `url` as a `data:image/png;base64,` URL. */
  async imageDataUrl(url) {
    const response = await this.request(url, { headers: { Accept: "image/png" } });
    const bytes = new Uint8Array(await response.arrayBuffer());
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

async function describeProblem(response) {
  let text = response.statusText;
  try {
    const problem = await response.json();
    text = problem.detail ? `${problem.title}: ${problem.detail}` : problem.title ?? text;
  } catch {
    // not problem+json
  }
  return `Restyle server answered ${response.status}: ${text}`;
}

/** Parses a text/event-stream body into {event, data} records. */
async function* readEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "message";
  let data = [];
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
}
