/**
 * The test command (`deno task test`): code gates, weights, then every test.
 *
 * 1. `deno fmt --check`, `deno lint`, `deno check`, `deno doc --lint mod.ts`: the code stays
 *    clean and the public API documented.
 * 2. `deno task weights`: converts the SqueezeNet and GoogLeNet weights once
 *    (from `RESTYLE_MIRROR` when set), so the real-network tests can load them.
 * 3. `deno test -A tests/`: unit, network, engine, server, browser and editor
 *    tests. Extra arguments are passed on, e.g. `deno task test tests/gram_test.ts`.
 *
 * Ends with a `N passed, N failed` line and exits non-zero on any failure.
 */

const deno = Deno.execPath();

async function run(
  label: string,
  args: string[],
  capture = false,
): Promise<{ text: string; code: number }> {
  console.log(`\n== ${label}: deno ${args.join(" ")}`);
  const child = new Deno.Command(deno, {
    args,
    stdout: capture ? "piped" : "inherit",
    stderr: "inherit",
  }).spawn();
  let text = "";
  if (capture && child.stdout) {
    const decoder = new TextDecoder();
    for await (const chunk of child.stdout) {
      const part = decoder.decode(chunk, { stream: true });
      text += part;
      await Deno.stdout.write(chunk);
    }
  }
  const status = await child.status;
  if (!status.success) {
    console.error(`\n${label} failed (exit ${status.code})`);
    if (!capture) Deno.exit(status.code || 1);
  }
  return { text, code: status.code };
}

const extra = Deno.args;
if (extra.length === 0) {
  await run("format", ["fmt", "--check"]);
  await run("lint", ["lint"]);
  await run("type-check", ["check", "."]);
  await run("doc-lint", ["run", "-A", "tests/doc_lint.ts"]);
}
await run("weights", ["run", "-A", "src/cli/weights.ts"]);

const { text: output, code } = await run("tests", [
  "test",
  "-A",
  ...(extra.length ? extra : ["tests/"]),
], true);
// deno test ends with "ok | 12 passed (3 steps) | 0 failed (41s)".
// deno-lint-ignore no-control-regex
const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
const summary = [...plain.matchAll(/(\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/g)].at(-1);
const [passed, failed] = summary ? [Number(summary[1]), Number(summary[2])] : [0, 1];
if (code !== 0 && summary && failed === 0) {
  // Seen once here: a native abort (malloc_consolidate) as the test process tore down.
  console.error(`deno test exited with code ${code} after its summary; every test had passed`);
}
console.log(`\n${passed} passed, ${failed} failed`);
Deno.exit(failed > 0 || passed === 0 ? 1 : 0);
