/**
 * Stylize an image through the Restyle HTTP API from Deno, in one call; list and cancel jobs.
 *
 * ```sh
 * deno run -A examples/deno_client.ts IMAGE [STYLE] [OUT]
 * deno run -A examples/deno_client.ts --list
 * deno run -A examples/deno_client.ts --cancel JOB_ID
 * ```
 *
 * Posts to `/v1/stylize` and reads its NDJSON stream: one line per preview
 * (`{iteration, losses, png}` with the PNG in base64), then `{done: true}`.
 * Saves the last preview as OUT (default `restyled.png`). `--list` prints the jobs
 * the server holds, newest first (`GET /v1/jobs`); `--cancel` stops a job, or
 * forgets a finished one (`DELETE /v1/jobs/JOB_ID`). Environment:
 * `RESTYLE_URL` (default http://127.0.0.1:8787), `RESTYLE_TOKEN`, `RESTYLE_OPTIONS` (JSON).
 */
const url = (Deno.env.get("RESTYLE_URL") ?? "http://127.0.0.1:8787").replace(/\/$/, "");
const token = Deno.env.get("RESTYLE_TOKEN");
const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
const options = Deno.env.get("RESTYLE_OPTIONS") ??
  JSON.stringify({ iterations: 20, previewEvery: 5, maxSize: 256 });
const USAGE = `usage: deno run -A examples/deno_client.ts IMAGE [STYLE] [OUT]
       deno run -A examples/deno_client.ts --list
       deno run -A examples/deno_client.ts --cancel JOB_ID`;

/** Exits with the problem the server answered (`application/problem+json`). */
async function refused(response: Response): Promise<never> {
  const problem = await response.json();
  console.error(`refused (${problem.status}): ${problem.detail}`);
  Deno.exit(1);
}

/** One line per job the server holds, newest first: id, status, progress, when it was queued. */
async function listJobs(): Promise<void> {
  const response = await fetch(`${url}/v1/jobs`, { headers });
  if (!response.ok) await refused(response);
  const { jobs } = await response.json();
  if (jobs.length === 0) console.log("no jobs");
  for (const job of jobs) {
    const percent = `${Math.round(job.progress * 100)}%`.padStart(4);
    console.log(
      `${job.id}  ${job.status.padEnd(9)}  ${percent}  ${job.iteration}/${job.iterations}  ` +
        `queued ${job.createdAt}`,
    );
  }
}

/** Cancels a waiting or running job (answered once it has stopped); forgets a finished one. */
async function cancelJob(id: string): Promise<void> {
  const response = await fetch(`${url}/v1/jobs/${encodeURIComponent(id)}`, {
    method: "DELETE",
    headers,
  });
  if (!response.ok) await refused(response);
  const job = await response.json();
  console.log(`job ${job.id}: ${job.status} at iteration ${job.iteration}/${job.iterations}`);
}

if (Deno.args[0] === "--list") {
  await listJobs();
  Deno.exit(0);
}
if (Deno.args[0] === "--cancel") {
  if (Deno.args.length !== 2) {
    console.error(USAGE);
    Deno.exit(2);
  }
  await cancelJob(Deno.args[1]);
  Deno.exit(0);
}
const [image, style = "starry-night", out = "restyled.png"] = Deno.args;
if (!image) {
  console.error(USAGE);
  Deno.exit(2);
}

const form = new FormData();
form.append("content", new Blob([await Deno.readFile(image)]), image.split("/").pop());
form.append("style", style);
form.append("options", options);
const response = await fetch(`${url}/v1/stylize`, { method: "POST", body: form, headers });
if (!response.ok) await refused(response);
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
