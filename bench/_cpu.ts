/**
 * @module The CPU a bench ran on: model, cores and SIMD extensions.
 *
 * A ratio to PyTorch depends on the vector width each side uses (WebAssembly
 * SIMD is 128 bits; native kernels use AVX2, AVX-512 or NEON), so every result
 * carries this line.
 */

/** SIMD extensions worth naming, as `/proc/cpuinfo` spells them. */
const SIMD = /^(sse4_2|avx|avx2|fma|avx512\w*|avx_vnni|amx\w*|asimd\w*|sve\w*|neon)$/;

/** E.g. `"AMD EPYC, 2 cores, SIMD: avx avx2 avx512f …"`; falls back to what Deno knows. */
export async function cpuDescription(): Promise<string> {
  const cores = `${navigator.hardwareConcurrency} cores`;
  let text: string;
  try {
    text = await Deno.readTextFile("/proc/cpuinfo");
  } catch {
    return `${Deno.build.arch} ${Deno.build.os}, ${cores} (no /proc/cpuinfo: SIMD unknown)`;
  }
  const field = (name: string) => text.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, "m"))?.[1].trim();
  const model = field("model name") ?? field("Model") ?? field("CPU part") ?? Deno.build.arch;
  const flags = (field("flags") ?? field("Features") ?? "").split(/\s+/).filter((f) =>
    SIMD.test(f)
  );
  return `${model}, ${cores}, SIMD: ${flags.length ? flags.join(" ") : "none listed"}`;
}
