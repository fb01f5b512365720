/**
 * Stylize an image through the Restyle HTTP API from Deno, in one call.
 *
 * ```sh
 * deno run -A examples/deno_client.ts IMAGE [STYLE] [OUT]
 * ```
 *
 * Posts to `/v1/stylize` and reads its NDJSON stream: one line per preview
 * (`{iteration, losses, png}` with the PNG in base64), then `{done: true}`.
 * Saves the last preview as OUT (default `restyled.png`). Environment:
 * `RESTYLE_URL` (default http://127.0.0.1:8787), `RESTYLE_TOKEN`, `RESTYLE_OPTIONS` (JSON).
 */
const url = (Deno.env.get("RESTYLE_URL") ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const token = Deno.env.get("RESTYLE_TOKEN");
const options = Deno.env.get("RESTYLE_OPTIONS") ??
  JSON.stringify({ iterations: 20, previewEvery: 5, maxSize: 256 });
const [image, style = "starry-night", out = "restyled.png"] = Deno.args;
if (!image) {
  console.error("usage: deno run -A examples/deno_client.ts IMAGE [STYLE] [OUT]");
  Deno.exit(2);
}

const form = new FormData();
form.append("content", new Blob([await Deno.readFile(image)]), image.split("/").pop());
form.append("style", style);
form.append("options", options);
const response = await fetch(`${url}/v1/stylize`, {
  method: "POST",
  body: form,
  headers: token ? { authorization: `Bearer ${token}` } : {},
});
if (!response.ok) {
  const problem = await response.json();
  console.error(`refused (${problem.status}): ${problem.detail}`);
  Deno.exit(1);
}
console.log(`job ${response.headers.get("x-job-id")}`);

let last: Uint8Array | undefined;
const lines = response.body!.pipeThrough(new TextDecoderStream());
let buffer = "";
for await (const chunk of lines) {
  buffer += chunk;
  let end;
  while ((end = buffer.indexOf("\n")) >= 0) {
    const line = JSON.parse(buffer.slice(0, end));
    buffer = buffer.slice(end + 1);
    if (line.error) throw new Error(`job failed: ${line.error.detail}`);
    if (line.done) {
      if (!last) throw new Error("the job finished without an image");
      await Deno.writeFile(out, last);
      console.log(`done after ${line.iteration} iterations: saved ${out}`);
    } else if (line.png) {
      last = Uint8Array.from(atob(line.png), (c) => c.charCodeAt(0));
      console.log(`iteration ${line.iteration}/${line.iterations} loss ${line.losses.total}`);
    }
  }
}
