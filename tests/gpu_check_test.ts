/**
 * The GPU check (`deno task bench --gpu`, `bench/gpu.ts`) on this machine's adapter:
 * in CI the software one (Vulkan lavapipe), at sizes it runs in well under a minute
 * a backend. It must start WebGPU, ONNX Runtime and wasm, evaluate the same loss on
 * each to within its tolerances, serve a first preview and finish a stylize.
 */
import assert from "node:assert/strict";

const mirror = Deno.env.get("RESTYLE_MIRROR");

async function hasWebGpu(): Promise<boolean> {
  // deno-lint-ignore no-explicit-any
  const gpu = (navigator as any).gpu;
  return Boolean(gpu && await gpu.requestAdapter().catch(() => null));
}

Deno.test({
  name: "the GPU check runs webgpu, onnx and wasm and their losses and gradients agree",
  ignore: !mirror || !(await hasWebGpu()),
  async fn() {
    const xdg = Deno.env.get("XDG_RUNTIME_DIR") ?? await Deno.makeTempDir({ prefix: "xdg-" });
    const bench = new URL("../bench/bench.ts", import.meta.url).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        bench,
        "--gpu",
        "--sizes",
        "64,96",
        "--preview-size",
        "64",
        "--stylize",
        "128",
        "--iterations",
        "2",
        "--json",
      ],
      env: { XDG_RUNTIME_DIR: xdg },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    const rows = new TextDecoder().decode(stdout).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((r) => r.backend), ["webgpu", "onnx", "wasm"]);
    for (const row of rows) {
      if (row.backend === "onnx" && row.unavailable) continue; // no native library here
      assert.equal(row.unavailable, undefined, `${row.backend}: ${row.unavailable}`);
      assert.equal(row.error, undefined, `${row.backend}: ${row.error}`);
      assert.equal(row.evaluations.length, 2);
      for (const e of row.evaluations) {
        assert.ok(Number.isFinite(e.loss) && e.loss > 0, JSON.stringify(e));
        if (row.backend !== "wasm") assert.ok(e.lossError <= 1e-3 && e.gradError <= 1e-2);
      }
      assert.ok(row.firstPreviewMs > 0, JSON.stringify(row));
      assert.equal(row.stylize.size, 128, JSON.stringify(row.stylize));
    }
    console.log(
      rows.map((r) =>
        `${r.backend}: ${r.evaluations.map((e: { ms: number }) => e.ms.toFixed(0)).join("/")} ms`
      ).join(", "),
    );
  },
});
