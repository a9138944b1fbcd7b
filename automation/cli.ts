/**
 * Entry point of the Automation API driver:
 *
 *   tsx automation/cli.ts <preview|up|refresh|destroy|outputs> <stack> [flags]
 *   npm run up -- dev
 *
 * Only light modules load before the prerequisite checks; the Automation API and Octokit load after
 * them (see runner.ts), so a missing Pulumi CLI is reported in well under a second.
 */
import * as os from "node:os";
import { runDriver } from "./driver";
import { PROJECT_DIR } from "./stack-files";
import { realInstaller } from "./tools";

async function main(): Promise<number> {
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write(`\n${signal}: asking Pulumi to stop gracefully (again to exit now)\n`);
    controller.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return runDriver(process.argv.slice(2), {
    env: process.env,
    projectDir: PROJECT_DIR,
    homeDir: os.homedir(),
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stackApi: async () => (await import("./runner")).localWorkspaceApi,
    commentsApi: async (token) =>
      (await import("./runner")).octokitCommentsApi(token, process.env.GITHUB_API_URL),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    now: Date.now,
    signal: controller.signal,
    installTools: realInstaller,
  });
}

main().then(
  (code) => {
    // Exit once the output is flushed, without waiting for anything still pending.
    process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
  },
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
