/**
 * `deno task serve` as a user starts it: health polled from the first millisecond of 20
 * starts never kills the server (it answers `starting`, then `ok`), and SIGTERM stops it —
 * while the engine starts, while it is idle and while a job computes — taking the engine
 * process with it.
 */
import assert from "node:assert/strict";
import { repoPath } from "../src/config.ts";
import { alive, encodePng, gradientWithAlpha, jobForm, MIRROR, readSse, tiny } from "./_server.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Child processes of `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) children.push(Number(entry.name));
    } catch {
      // gone meanwhile
    }
  }
  return children;
}

/** Starts the CLI and polls `/v1/health` every few ms from the moment it is spawned. */
async function start(until: "first-answer" | "ok") {
  const port = freePort();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "src/cli/serve.ts", "--port", String(port)],
    cwd: repoPath("."),
    // No XDG_RUNTIME_DIR, as on a machine without a desktop session.
    clearEnv: true,
    env: Object.fromEntries(
      ["HOME", "PATH", "DENO_DIR", "RESTYLE_MIRROR", "RESTYLE_HOME", "RESTYLE_BACKEND"]
        .flatMap((name) => Deno.env.get(name) ? [[name, Deno.env.get(name)!]] : []),
    ),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let exited = false;
  const output = Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]).then(([out, err]) => out + err);
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const answers: { status: number; health: string }[] = [];
  const deadline = Date.now() + 120_000;
  while (!exited && Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/v1/health`);
      const body = await response.json();
      answers.push({ status: response.status, health: body.status });
      if (until === "ok" ? body.status === "ok" : answers.length >= 3) break;
    } catch {
      // not listening yet
    }
    await sleep(3);
  }
  const engines = childrenOf(child.pid);
  const stop = async () => {
    if (exited) assert.fail(`the server died on its own:\n${await output}`);
    const stopping = Date.now();
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const result = await status;
    clearTimeout(timer);
    const log = await output;
    assert.equal(result.code, 0, `exit ${result.code} ${result.signal ?? ""}:\n${log}`);
    assert.ok(Date.now() - stopping < 15_000, "SIGTERM took too long");
    for (const pid of engines) assert.ok(!alive(pid), `engine process ${pid} outlived the server`);
    return log;
  };
  return { port, answers, stop };
}

Deno.test({
  name:
    "20 starts with /v1/health polled from the first millisecond: it answers and SIGTERM stops it",
  ignore: !MIRROR,
  async fn() {
    const starts = Number(Deno.env.get("RESTYLE_TEST_STARTS") ?? 20);
    for (let i = 0; i < starts; i++) {
      const began = Date.now();
      const last = i === 0 || i === starts - 1;
      const server = await start(last ? "ok" : "first-answer");
      const log = await server.stop();
      console.log(`start ${i}: ${server.answers.length} answers, ${Date.now() - began} ms`);
      assert.ok(server.answers.length > 0, `start ${i}: no answer\n${log}`);
      for (const answer of server.answers) {
        assert.equal(answer.status, 200, `start ${i}: ${JSON.stringify(server.answers)}`);
        assert.ok(["starting", "ok"].includes(answer.health), JSON.stringify(server.answers));
      }
      if (last) assert.equal(server.answers.at(-1)!.health, "ok");
      assert.doesNotMatch(log, /XDG_RUNTIME_DIR is invalid/);
      assert.doesNotMatch(log, /Uncaught|no tfjs backend/);
    }
  },
});

Deno.test({
  name: "SIGTERM stops the server while a job computes, and the engine process with it",
  ignore: !MIRROR,
  async fn() {
    const server = await start("ok");
    const url = `http://127.0.0.1:${server.port}`;
    const form = jobForm(await encodePng(gradientWithAlpha(60, 40)), tiny({ iterations: 300 }));
    const created = await (await fetch(`${url}/v1/jobs`, { method: "POST", body: form })).json();
    const seen = await readSse(
      await fetch(url + created.links.events),
      (e) => e.event === "iteration",
    );
    assert.equal(seen.at(-1)!.event, "iteration");
    const log = await server.stop();
    assert.match(log, /SIGTERM: cancelling jobs and stopping/);
  },
});

Deno.test({
  name: "the server's log has no Deno.serve warning: a DELETE, a chunked upload, a hang-up",
  ignore: !MIRROR,
  async fn() {
    const server = await start("ok");
    const url = `http://127.0.0.1:${server.port}`;
    const layer = await encodePng(gradientWithAlpha(60, 40));
    // A chunked upload: no Content-Length, so the body limit counts it as it reads.
    const request = new Request(url, { method: "POST", body: jobForm(layer, tiny()) });
    const bytes = new Uint8Array(await request.arrayBuffer());
    const created = await (await fetch(`${url}/v1/jobs`, {
      method: "POST",
      headers: { "content-type": request.headers.get("content-type")! },
      body: ReadableStream.from([bytes]),
    })).json();
    await readSse(await fetch(url + created.links.events));
    // fetch sends a DELETE without Content-Length, and its (empty) body is read too.
    assert.equal((await fetch(url + created.links.self, { method: "DELETE" })).status, 200);
    // A client that hangs up on the PNG answer: its job is cancelled.
    const abort = new AbortController();
    const png = await fetch(`${url}/v1/stylize`, {
      method: "POST",
      headers: { accept: "image/png" },
      body: jobForm(layer, tiny({ iterations: 500, previewEvery: 100 })),
      signal: abort.signal,
    });
    const id = png.headers.get("x-job-id");
    abort.abort();
    await png.body?.cancel().catch(() => {});
    let status = "running";
    for (let i = 0; i < 100 && status === "running"; i++) {
      await sleep(100);
      status = (await (await fetch(`${url}/v1/jobs/${id}`)).json()).status;
    }
    assert.equal(status, "cancelled");
    const log = await server.stop();
    assert.doesNotMatch(log, /Deno\.serve|request\.signal|legacy/, log);
  },
});
