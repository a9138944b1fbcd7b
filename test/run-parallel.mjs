// `npm test`: runs the npm scripts named on the command line at once (type check, lint, the suite), then
// prints each one's output in the order given, with its time, and exits non-zero if any failed or ran
// past the bound. At once, because none needs another's result and each is mostly single-threaded.
import { spawn } from "node:child_process";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";

const BOUND_MS = 5 * 60_000;
const scripts = process.argv.slice(2);
const started = Date.now();

const runs = scripts.map(
  (name) =>
    new Promise((resolve) => {
      const t0 = Date.now();
      const child = spawn("npm", ["run", "--silent", name], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      child.stdout.on("data", (chunk) => (output += chunk));
      child.stderr.on("data", (chunk) => (output += chunk));
      const timer = setTimeout(() => {
        output += `\n${name}: still running after ${BOUND_MS / 1000} s, killed\n`;
        child.kill("SIGKILL");
      }, BOUND_MS);
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        resolve({ name, ok: code === 0, status: signal ?? code, output, seconds: (Date.now() - t0) / 1000 });
      });
    }),
);

let failed = 0;
for (const run of runs) {
  const { name, ok, status, output, seconds } = await run;
  if (!ok) failed++;
  process.stdout.write(
    `\n── npm run ${name}: ${ok ? "ok" : `FAILED (${status})`}, ${seconds.toFixed(1)} s\n${output}`,
  );
}
const total = ((Date.now() - started) / 1000).toFixed(1);
process.stdout.write(
  `\n${failed ? `${failed} of ${scripts.length} failed` : "all passed"}: ${scripts.join(", ")} in ${total} s\n`,
);
process.exit(failed ? 1 : 0);
