/**
 * The test command (`deno task test`): the code gates, the weights, then every test.
 *
 * 1. `deno task check`: format, lint, type-check and doc lint, as the task defines them.
 * 2. `deno task weights`: the real-network tests load the converted SqueezeNet and
 *    GoogLeNet weights; this converts them once (from `RESTYLE_MIRROR` when set) and
 *    is a no-op when they are in place. A named step, so the set-up is not hidden.
 * 3. `deno test -A tests/`: unit, network, engine, server, browser and editor tests.
 *    Extra arguments replace `tests/` and skip step 1, e.g. `deno task test tests/ops_test.ts`.
 *
 * Pass and fail are read from deno's JUnit report, not from its printed text. Ends with a
 * `N passed, N failed` line and exits non-zero on any failure. `deno task test:unit` is the
 * fast subset (no browser, GIMP, Krita or network).
 */

const deno = Deno.execPath();

async function step(label: string, args: string[]): Promise<number> {
  console.log(`\n== ${label}: deno ${args.join(" ")}`);
  const { code } = await new Deno.Command(deno, { args, stdout: "inherit", stderr: "inherit" })
    .output();
  if (code !== 0) console.error(`\n${label} failed (exit ${code})`);
  return code;
}

/** `tests` and `failures` of a JUnit report's root element (deno writes one `<testsuites>`). */
export function junitCounts(xml: string): { tests: number; failures: number } | undefined {
  const root = xml.match(/<testsuites\b([^>]*)>/)?.[1];
  if (!root) return undefined;
  const attribute = (name: string) => Number(root.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1]);
  const [tests, failures, errors] = ["tests", "failures", "errors"].map(attribute);
  if (!Number.isInteger(tests) || !Number.isInteger(failures)) return undefined;
  return { tests, failures: failures + (errors || 0) };
}

if (import.meta.main) {
  const extra = Deno.args;
  if (extra.length === 0 && await step("check", ["task", "check"]) !== 0) Deno.exit(1);
  if (await step("weights", ["task", "weights"]) !== 0) Deno.exit(1);

  const report = await Deno.makeTempFile({ prefix: "restyle-junit-", suffix: ".xml" });
  const code = await step("tests", [
    "test",
    "-A",
    `--junit-path=${report}`,
    ...(extra.length ? extra : ["tests/"]),
  ]);
  const counts = junitCounts(await Deno.readTextFile(report).catch(() => ""));
  await Deno.remove(report).catch(() => {});
  const { tests, failures } = counts ?? { tests: 0, failures: 1 };
  if (code !== 0 && counts && failures === 0) {
    // Seen once here: a native abort (malloc_consolidate) as the test process tore down.
    console.error(`deno test exited with code ${code} after its report; every test had passed`);
  }
  console.log(`\n${tests - failures} passed, ${failures} failed`);
  Deno.exit(failures > 0 || tests === 0 ? 1 : 0);
}
