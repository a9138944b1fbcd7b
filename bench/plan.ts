/**
 * `npm run bench:plan` (tsx bench/plan.ts): how long the offline plan takes, per stack, measured here
 * instead of bounded in a unit test (a wall-clock bound fails on a loaded machine and proves nothing).
 *
 *   - in process: evaluateStack(stack) after one warm-up evaluation (what the tests pay per evaluation);
 *   - as a user runs it: `tsx automation/plan.ts <stack>` in a fresh process, start-up included.
 * Reported: the median of --runs N (default 5; BENCH_RUNS) and the range, the core count and the load.
 */
import { spawnSync } from "node:child_process";
import * as os from "node:os";
import * as path from "node:path";
import { evaluateStack, listStacks, PROJECT_DIR } from "../automation/evaluate";

const at = process.argv.indexOf("--runs");
const runs = Number(at >= 0 ? process.argv[at + 1] : (process.env.BENCH_RUNS ?? 5));
if (!Number.isInteger(runs) || runs < 1 || runs > 100)
  throw new Error(`--runs must be an integer from 1 to 100`);
const TSX = path.join(PROJECT_DIR, "node_modules", ".bin", "tsx");

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const summary = (xs: number[]) =>
  `${String(Math.round(median(xs))).padStart(6)} ms  (${Math.round(Math.min(...xs))}-${Math.round(Math.max(...xs))})`;

async function main(): Promise<void> {
  const load = () =>
    os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(" ");
  console.log(
    `node ${process.version}, ${os.availableParallelism()} cores, load average ${load()}, ${runs} runs\n`,
  );
  console.log(
    `${"stack".padEnd(9)}  ${"resources".padStart(9)}  ${"in process (median, range)".padEnd(28)}  command (median, range)`,
  );
  for (const stack of listStacks()) {
    const warm = await evaluateStack(stack);
    if (warm.error) throw warm.error;
    const inProcess: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await evaluateStack(stack);
      inProcess.push(performance.now() - started);
    }
    const command: number[] = [];
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      const run = spawnSync(TSX, ["automation/plan.ts", stack], {
        cwd: PROJECT_DIR,
        stdio: "ignore",
        timeout: 120_000,
      });
      if (run.status !== 0) throw new Error(`npm run plan -- ${stack} exited ${run.status}`);
      command.push(performance.now() - started);
    }
    console.log(
      `${stack.padEnd(9)}  ${String(warm.resources.length).padStart(9)}  ${summary(inProcess).padEnd(28)}  ${summary(command)}`,
    );
  }
  console.log(`\nload average ${load()} after`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
