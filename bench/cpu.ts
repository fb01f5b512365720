/**
 * @module The machine a figure was measured on: CPU model, cores and SIMD extensions.
 *
 * Ratios depend on the CPU (wasm SIMD is 128 bits wide, native kernels use
 * AVX2 / AVX-512 / NEON), so every bench result records this line.
 */

/** E.g. `AMD EPYC (2 cores, family 25 model 17; avx2 avx512f)`, read from /proc/cpuinfo where there is one. */
export async function cpuModel(): Promise<string> {
  const cores = navigator.hardwareConcurrency;
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    const model = info.match(/^model name\s*:\s*(.+)$/m)?.[1].trim() ??
      info.match(/^(?:Hardware|CPU part)\s*:\s*(.+)$/m)?.[1].trim() ?? "unknown CPU";
    const flags = new Set(info.match(/^(?:flags|Features)\s*:\s*(.+)$/m)?.[1].split(/\s+/) ?? []);
    const simd = [
      "avx2",
      "fma",
      "avx512f",
      "avx512_vnni",
      "avx512_bf16",
      "avx_vnni",
      "amx_tile",
      "f16c",
      "asimd",
      "sve",
    ].filter((f) => flags.has(f));
    // A virtual machine may name only the vendor ("AMD EPYC"): family and model say which.
    const family = info.match(/^cpu family\s*:\s*(\d+)$/m)?.[1];
    const number = info.match(/^model\s*:\s*(\d+)$/m)?.[1];
    const id = family && number ? `, family ${family} model ${number}` : "";
    return `${model} (${cores} cores${id}; ${simd.join(" ") || "no AVX2/NEON"})`;
  } catch {
    return `${Deno.build.arch} ${Deno.build.os} (${cores} cores)`;
  }
}
