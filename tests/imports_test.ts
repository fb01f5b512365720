/**
 * Imports run one way: no module of `src/` reaches itself again through its imports,
 * type-only imports included (a cycle is two rooms that each hold half of one idea),
 * and no folder of `src/` reaches itself again through another.
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

/** The folder of a `src/` module (`engine/stylize.ts` -> `engine`); a file at the top is its own room. */
function folderOf(module: string): string {
  const slash = module.indexOf("/");
  return slash < 0 ? module.replace(/\.ts$/, "") : module.slice(0, slash);
}

/** `graph` seen folder by folder: an arrow from one folder to another for any import between them. */
function folderGraph(graph: Map<string, string[]>): Map<string, string[]> {
  const folders = new Map<string, Set<string>>();
  for (const [module, targets] of graph) {
    const from = folderOf(module);
    const arrows = folders.get(from) ?? new Set();
    for (const target of targets) if (folderOf(target) !== from) arrows.add(folderOf(target));
    folders.set(from, arrows);
  }
  return new Map([...folders].map(([folder, arrows]) => [folder, [...arrows]]));
}

Deno.test("no two folders of src/ import each other, however indirectly: arrows run one way", async () => {
  const roots = ["mod.ts", "src/cli/stylize.ts", "src/cli/serve.ts", "src/cli/weights.ts"];
  const graph = await importGraph(roots.map((r) => new URL(`../${r}`, import.meta.url).pathname));
  const folders = folderGraph(graph);
  assert.ok(folders.size > 8, `only ${folders.size} folders found`);
  const cycle = findCycle(folders);
  assert.equal(cycle, undefined, `folders in a loop: ${cycle?.join(" -> ")}`);
  // The engine reaches the runtimes through the executors only.
  assert.ok(!folders.get("engine")!.includes("onnx"), "engine imports onnx directly");
});

Deno.test("the folder view of a module graph finds a loop through two folders", () => {
  const graph = new Map([
    ["engine/a.ts", ["executors/b.ts"]],
    ["executors/b.ts", ["executors/c.ts"]],
    ["executors/c.ts", ["engine/d.ts"]],
    ["engine/d.ts", []],
  ]);
  assert.equal(findCycle(graph), undefined, "no module loop");
  assert.deepEqual(findCycle(folderGraph(graph)), ["engine", "executors", "engine"]);
});

Deno.test("the cycle finder finds a cycle", () => {
  const graph = new Map([["a", ["b"]], ["b", ["c"]], ["c", ["a"]], ["d", []]]);
  assert.deepEqual(findCycle(graph), ["a", "b", "c", "a"]);
  assert.equal(findCycle(new Map([["a", ["b"]], ["b", []]])), undefined);
});
