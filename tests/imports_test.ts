/**
 * Imports run one way: no module of `src/` reaches itself again through its imports,
 * type-only imports included (a cycle is two rooms that each hold half of one idea).
 */
import assert from "node:assert/strict";

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; type?: { specifier: string } }[];
}

/** `src/` modules reachable from `roots`, each with the `src/` modules it imports. */
async function importGraph(roots: string[]): Promise<Map<string, string[]>> {
  const modules: InfoModule[] = [];
  for (const root of roots) {
    const { stdout, success } = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", root],
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.ok(success, `deno info ${root} failed`);
    modules.push(...JSON.parse(new TextDecoder().decode(stdout)).modules);
  }
  const src = new URL("../src/", import.meta.url).href;
  const graph = new Map<string, string[]>();
  for (const module of modules) {
    if (!module.specifier.startsWith(src)) continue;
    const targets = (module.dependencies ?? [])
      .flatMap((d) => [d.code?.specifier, d.type?.specifier])
      .filter((s): s is string => s?.startsWith(src) ?? false);
    graph.set(module.specifier.slice(src.length), targets.map((s) => s.slice(src.length)));
  }
  return graph;
}

/** One cycle of `graph` as a path `a -> b -> a`, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node];
    state.set(node, "open");
    path.push(node);
    for (const next of graph.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of graph.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

Deno.test("no import cycle among the modules of src/", async () => {
  const roots = ["mod.ts", "src/cli/stylize.ts", "src/cli/serve.ts", "src/cli/weights.ts"];
  const graph = await importGraph(roots.map((r) => new URL(`../${r}`, import.meta.url).pathname));
  assert.ok(graph.size > 40, `only ${graph.size} modules found`);
  const cycle = findCycle(graph);
  assert.equal(cycle, undefined, `import cycle: ${cycle?.join(" -> ")}`);
});

Deno.test("the cycle finder finds a cycle", () => {
  const graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", []]]);
  assert.deepEqual(findCycle(graph), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", []]])), undefined);
});
