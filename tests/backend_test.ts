/**
 * The backend: threaded wasm under Deno, and picking a backend by measurement.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend, pickBackend, wasmThreads } from "../src/backend.ts";

Deno.test("wasm computes on one thread per core (up to 8), and a finished process exits", async () => {
  const script = `
    import * as tf from "@tensorflow/tfjs";
    import { initBackend } from "${new URL("../src/backend.ts", import.meta.url)}";
    const info = await initBackend("wasm");
    const x = tf.randomNormal([1, 32, 32, 16]);
    const y = tf.conv2d(x, tf.randomNormal([3, 3, 16, 16]), 1, "same");
    console.log(JSON.stringify({ threads: info.threads, sum: Number.isFinite((await y.sum().data())[0]) }));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--config", new URL("../deno.json", import.meta.url).pathname, script],
    env: { RESTYLE_WASM_THREADS: "2" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Idle pthread workers must not keep the process alive once its work is done.
  const timer = setTimeout(() => child.kill(), 60_000);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const result = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").at(-1)!);
  assert.deepEqual(result, { threads: 2, sum: true });
});

Deno.test("wasmThreads() defaults to the core count and refuses a malformed RESTYLE_WASM_THREADS", () => {
  const saved = Deno.env.get("RESTYLE_WASM_THREADS");
  try {
    Deno.env.delete("RESTYLE_WASM_THREADS");
    assert.equal(wasmThreads(), Math.min(navigator.hardwareConcurrency, 8));
    Deno.env.set("RESTYLE_WASM_THREADS", "two");
    assert.throws(
      () => wasmThreads(),
      /RESTYLE_WASM_THREADS must be a whole number of at least 1, got "two"/,
    );
  } finally {
    if (saved === undefined) Deno.env.delete("RESTYLE_WASM_THREADS");
    else Deno.env.set("RESTYLE_WASM_THREADS", saved);
  }
});

Deno.test("pickBackend() keeps the faster backend for the work and remembers it on disk", async () => {
  const dir = await Deno.makeTempDir();
  const cacheFile = `${dir}/choice.json`;
  let probes = 0;
  await initBackend("wasm");
  // Conv-heavy work: wasm (XNNPACK) is far faster at it than the plain JS cpu backend.
  const x = tf.randomNormal([1, 48, 48, 32]) as tf.Tensor4D;
  const filter = tf.randomNormal([3, 3, 32, 32]) as tf.Tensor4D;
  const probe = async () => {
    probes += 1;
    const y = tf.conv2d(x, filter, 1, "same");
    await y.data();
    y.dispose();
  };
  try {
    const first = await pickBackend({
      key: "conv@48",
      probe,
      candidates: ["cpu", "wasm"],
      cacheFile,
    });
    assert.equal(first.backend, "wasm");
    assert.equal(first.cached, false);
    assert.ok(first.probeMs.cpu! > first.probeMs.wasm!, JSON.stringify(first.probeMs));
    assert.equal(probes, 4);
    await initBackend("cpu");
    const again = await pickBackend({
      key: "conv@48",
      probe,
      candidates: ["cpu", "wasm"],
      cacheFile,
    });
    assert.deepEqual([again.backend, again.cached, tf.getBackend(), probes], [
      "wasm",
      true,
      "wasm",
      4,
    ]);
  } finally {
    tf.dispose([x, filter]);
    await Deno.remove(dir, { recursive: true });
  }
});
