/**
 * @module `deno task weights [network...] [--all] [--from DIR]`
 *
 * Fetches, verifies and converts network weights into `weights/<network>/`.
 * Without names: squeezenet and googlenet (the networks whose weights can be
 * obtained everywhere); `--all` adds vgg16. `--from DIR` (or `RESTYLE_MIRROR`)
 * copies from a local mirror laid out like the public sources instead of
 * downloading. Safe to re-run: current networks are reported "up to date".
 */
import { parseArgs } from "node:util";
import cliProgress from "cli-progress";
import { mirrorDir } from "../config.ts";
import { NETWORK_IDS, type NetworkId } from "../net/network.ts";
import type { FetchProgress } from "../fetch.ts";
import { installWeights } from "../weights/install.ts";

const USAGE = `usage: deno task weights [network...] [--all] [--from DIR] [--check]

  network     one or more of: ${NETWORK_IDS.join(", ")} (default: squeezenet googlenet)
  --all       every network, vgg16 included
  --from DIR  copy sources from a local mirror (DIR/weights/<network>/...) instead of
              downloading; default: $RESTYLE_MIRROR when set
  --check     also re-hash converted weights when deciding they are up to date`;

/** Default networks: those whose weights are obtainable everywhere. */
const DEFAULT_NETWORKS: NetworkId[] = ["squeezenet", "googlenet"];

function progressReporter(id: NetworkId): {
  onProgress: (p: FetchProgress) => void;
  stop: () => void;
} {
  if (Deno.stderr.isTerminal()) {
    const bar = new cliProgress.SingleBar({
      format: `${id} [{bar}] {percentage}% | {value}/{total} MB | {file}`,
      stream: process.stderr,
      hideCursor: true,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
    return {
      onProgress(p) {
        if (!started) bar.start(mb(p.bytesTotal), 0, { file: p.path });
        started = true;
        bar.update(mb(p.bytesDone), { file: p.path });
      },
      stop: () => started && bar.stop(),
    };
  }
  let lastDecile = -1;
  return {
    onProgress(p) {
      const decile = Math.floor((10 * p.bytesDone) / Math.max(1, p.bytesTotal));
      if (decile !== lastDecile && p.filesDone > 0) {
        lastDecile = decile;
        console.error(`${id}: ${p.filesDone}/${p.filesTotal} files, ${decile * 10}%`);
      }
    },
    stop() {},
  };
}

async function main(args: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        all: { type: "boolean" },
        from: { type: "string" },
        check: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const unknown = positionals.filter((name) => !NETWORK_IDS.includes(name as NetworkId));
  if (unknown.length > 0) {
    console.error(`unknown network ${unknown.map((n) => `"${n}"`).join(", ")}\n\n${USAGE}`);
    return 2;
  }
  const networks = values.all
    ? [...NETWORK_IDS]
    : positionals.length > 0
    ? positionals as NetworkId[]
    : DEFAULT_NETWORKS;
  const mirror = values.from ?? mirrorDir();
  let failed = 0;
  for (const id of networks) {
    const started = performance.now();
    const progress = progressReporter(id);
    try {
      const result = await installWeights(id, {
        mirror,
        deepCheck: values.check,
        onProgress: progress.onProgress,
      });
      progress.stop();
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        result === "up-to-date" ? `${id}: up to date` : `${id}: installed (${seconds} s)`,
      );
    } catch (error) {
      progress.stop();
      console.error(`${id}: error: ${(error as Error).message}`);
      failed++;
    }
  }
  return failed > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
