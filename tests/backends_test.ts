/**
 * The engine on every backend Restyle supports: each runs in its own process
 * (a tfjs backend is chosen once per process) with RESTYLE_BACKEND set.
 * WebGPU runs on the software adapter here (Vulkan lavapipe once
 * mesa-vulkan-drivers is installed, as .ci/run does; GL compiles for 50+ s).
 */
import assert from "node:assert/strict";

const mirror = Deno.env.get("RESTYLE_MIRROR");
const check = new URL("./_backend_check.ts", import.meta.url).pathname;

async function hasWebGpu(): Promise<boolean> {
  // deno-lint-ignore no-explicit-any
  const gpu = (navigator as any).gpu;
  return Boolean(gpu && await gpu.requestAdapter().catch(() => null));
}

for (const backend of ["cpu", "wasm", "webgpu"] as const) {
  Deno.test({
    name: `the engine computes Gram, gradients and a real transfer on the ${backend} backend`,
    ignore: !mirror || (backend === "webgpu" && !(await hasWebGpu())),
    async fn() {
      const xdg = Deno.env.get("XDG_RUNTIME_DIR") ?? await Deno.makeTempDir({ prefix: "xdg-" });
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", check],
        env: { RESTYLE_BACKEND: backend, XDG_RUNTIME_DIR: xdg },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const err = new TextDecoder().decode(stderr);
      assert.equal(code, 0, err);
      const line = new TextDecoder().decode(stdout).trim().split("\n").at(-1)!;
      const result = JSON.parse(line);
      assert.equal(result.backend, backend);
      result.gram.forEach((g: number, i: number) =>
        assert.ok(Math.abs(g - [2.5, 3.5, 3.5, 5][i]) < 1e-5)
      );
      const { analytic, numeric } = result.gradient;
      assert.ok(Math.abs(analytic - numeric) < 0.02 * Math.abs(numeric) + 1e-3, line);
      assert.equal(result.totals.length, 5);
      assert.ok(result.totals[4] < result.totals[0], `loss did not fall: ${result.totals}`);
      assert.deepEqual(result.size, [451, 300]);
      console.log(`${backend} (${result.adapter}): 5 iterations at 64 px in ${result.ms} ms`);
    },
  });
}
