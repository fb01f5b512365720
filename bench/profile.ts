/**
 * @module `deno task bench --profile`: where an ONNX Runtime evaluation spends its time.
 *
 * Builds the engine's objective (`bench/_objective.ts`, native) with ONNX Runtime's
 * profiler on, evaluates it `--runs` times after a warm-up, and sums the profiler's
 * per-node kernel times by operator type and by node (per evaluation, warm-up left
 * out). `--session JSON` merges session options over the defaults, to compare them:
 *
 * ```sh
 * deno task bench --profile --networks googlenet --size 512
 * deno task bench --profile --session '{"graphOptimizationLevel":"extended"}'
 * deno task bench --profile --versus '{"graphOptimizationLevel":"extended"}' --runs 9
 * ```
 *
 * `--versus JSON` profiles nothing: it times the default sessions against sessions
 * with those options, evaluation by evaluation in turn (A B A B …), and prints both
 * medians and ranges.
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../src/backend.ts";
import type { NetworkId } from "../src/net/network.ts";
import { endProfiles, type SessionTuning, tuneSessions } from "../src/onnx/runtime.ts";
import { makeObjective } from "./_objective.ts";
import { openNetwork } from "./_measure.ts";
import { median } from "./_server.ts";

interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[] };
}

/** Kernel time per evaluation, by op type and by node, from one session's trace. */
export function summarise(events: TraceEvent[]): {
  runs: number;
  runMs: number;
  byType: [string, number][];
  byNode: [string, string, number][];
  shapes: Map<string, string>;
} {
  const runs = events.filter((e) => e.cat === "Session" && e.name === "model_run")
    .sort((a, b) => a.ts - b.ts);
  const timed = runs.slice(1); // the first run allocates and warms up
  const inTimed = (e: TraceEvent) => timed.some((r) => e.ts >= r.ts && e.ts <= r.ts + r.dur);
  const byType = new Map<string, number>();
  const byNode = new Map<string, [string, number]>();
  const shapes = new Map<string, string>();
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time") || !inTimed(e)) continue;
    const type = e.args?.op_name ?? "?";
    const node = e.name.slice(0, -"_kernel_time".length);
    byType.set(type, (byType.get(type) ?? 0) + e.dur);
    byNode.set(node, [type, (byNode.get(node)?.[1] ?? 0) + e.dur]);
    if (!shapes.has(node) && e.args?.input_type_shape) {
      shapes.set(
        node,
        e.args.input_type_shape.map((t) => Object.values(t)[0].join("x")).join(", "),
      );
    }
  }
  const per = (us: number) => us / 1000 / Math.max(1, timed.length);
  return {
    runs: timed.length,
    runMs: median(timed.map((r) => r.dur / 1000)),
    byType: [...byType].map(([t, us]): [string, number] => [t, per(us)]).sort((a, b) =>
      b[1] - a[1]
    ),
    byNode: [...byNode].map(([n, [t, us]]): [string, string, number] => [n, t, per(us)])
      .sort((a, b) => b[2] - a[2]),
    shapes,
  };
}

/** Runs the profile; prints the summary of each network's objective session. */
export async function benchProfile(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      networks: { type: "string", default: "squeezenet,googlenet" },
      size: { type: "string", default: "512" },
      runs: { type: "string", default: "5" },
      session: { type: "string", default: "{}" },
      top: { type: "string", default: "25" },
      versus: { type: "string" },
    },
  });
  await initBackend("onnx");
  const size = Number(values.size);
  if (values.versus) {
    for (const id of values.networks.split(",") as NetworkId[]) {
      await versus(
        id,
        size,
        Number(values.runs),
        JSON.parse(values.session),
        JSON.parse(values.versus),
      );
    }
    return;
  }
  const dir = await Deno.makeTempDir({ prefix: "restyle-profile-" });
  try {
    for (const id of values.networks.split(",") as NetworkId[]) {
      const prefix = `${dir}/${id}`;
      tuneSessions(JSON.parse(values.session), prefix);
      const network = await openNetwork(id);
      const objective = await makeObjective(network, size, undefined, { native: true });
      const wall: number[] = [];
      for (let i = 0; i <= Number(values.runs); i++) {
        const start = performance.now();
        const { value, grad } = objective.evaluate();
        await grad.data();
        tf.dispose([value, grad]);
        if (i > 0) wall.push(performance.now() - start);
      }
      endProfiles();
      objective.dispose();
      network.dispose();
      tuneSessions({});
      // Two sessions: the measurement (targets) and the objective, which runs most.
      let best: ReturnType<typeof summarise> | undefined;
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.startsWith(`${id}_`)) continue;
        const summary = summarise(JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`)));
        if (!best || summary.runs > best.runs) best = summary;
      }
      if (!best) throw new Error("no profile was written");
      const kernels = best.byType.reduce((n, [, ms]) => n + ms, 0);
      const pct = (ms: number) => `${((100 * ms) / best!.runMs).toFixed(1)} %`;
      console.log(
        `\n${id} at ${size} px: ${median(wall).toFixed(1)} ms an evaluation (wall, median of ` +
          `${wall.length}); session run ${best.runMs.toFixed(1)} ms, kernels ${
            kernels.toFixed(1)
          } ms (profiling adds to both)`,
      );
      console.log("\nby operator type (ms per evaluation):");
      for (const [type, ms] of best.byType) {
        console.log(`  ${type.padEnd(22)} ${ms.toFixed(2).padStart(8)}  ${pct(ms)}`);
      }
      console.log(`\ntop ${values.top} nodes:`);
      for (const [node, type, ms] of best.byNode.slice(0, Number(values.top))) {
        console.log(
          `  ${ms.toFixed(2).padStart(8)}  ${type.padEnd(18)} ${node.padEnd(34)} ${
            best.shapes.get(node) ?? ""
          }`,
        );
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** Times sessions made with `a` against sessions made with `b`, interleaved. */
async function versus(
  id: NetworkId,
  size: number,
  runs: number,
  a: SessionTuning,
  b: SessionTuning,
): Promise<void> {
  const network = await openNetwork(id);
  const objectives = [];
  for (const options of [a, b]) {
    tuneSessions(options);
    const objective = await makeObjective(network, size, undefined, { native: true });
    const { value, grad } = objective.evaluate(); // makes the session with these options
    tf.dispose([value, grad]);
    objectives.push(objective);
  }
  tuneSessions({});
  const times: number[][] = [[], []];
  for (let i = 0; i < runs; i++) {
    for (const [j, objective] of objectives.entries()) {
      const start = performance.now();
      const { value, grad } = objective.evaluate();
      await grad.data();
      tf.dispose([value, grad]);
      times[j].push(performance.now() - start);
    }
  }
  const line = (t: number[]) =>
    `${median(t).toFixed(1)} ms [${Math.min(...t).toFixed(1)}-${Math.max(...t).toFixed(1)}]`;
  console.log(`${id} at ${size} px, ${runs} rounds A B A B …:`);
  console.log(`  A ${JSON.stringify(a)}: ${line(times[0])}`);
  console.log(`  B ${JSON.stringify(b)}: ${line(times[1])}`);
  console.log(`  B/A ${(median(times[1]) / median(times[0])).toFixed(3)}`);
  objectives.forEach((o) => o.dispose());
  network.dispose();
}
