/**
 * The driver's command line: `<command> <stack> [flags]`. Every error names the bad argument and what
 * is allowed, and ends with the usage line.
 */

export const COMMANDS = ["preview", "up", "refresh", "destroy", "outputs", "rollback"] as const;
export type Command = (typeof COMMANDS)[number];

export interface DriverArgs {
  command: Command;
  stack: string;
  /** Fail when the operation finds changes (drift checks). */
  expectNoChanges: boolean;
  /** Show a rich diff in the engine output. */
  diff: boolean;
  /** Resource operations run at once; undefined leaves the engine's default. */
  parallel?: number;
  /** Refresh state from the cloud before the operation. */
  refresh: boolean;
  /** `outputs` only: print secret values instead of `[secret]`. */
  showSecrets: boolean;
  /** Post or edit the pull-request comment when running on a pull request. */
  comment: boolean;
  /** Never fetch a missing Pulumi CLI or kind into .tools/; report them as missing instead. */
  noInstall: boolean;
  /** `rollback` only: the digest to pin; default the image deployed before the current one. */
  to?: string;
  /** `rollback` only: remove the pin, so deploys build or promote again. */
  clear?: boolean;
}

export type ParsedArgs = { kind: "help"; text: string } | { kind: "run"; args: DriverArgs };

/** A bad command line (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

interface FlagSpec {
  commands: readonly Command[];
  /** The value's placeholder in the help, and its parser (throws a UsageError on a bad value). */
  value?: { name: string; parse: (raw: string | undefined) => string };
  help: string;
}

const OPERATIONS: readonly Command[] = ["preview", "up", "refresh", "destroy", "rollback"];

const FLAGS: Record<string, FlagSpec> = {
  "--expect-no-changes": {
    commands: ["preview", "up", "refresh"],
    help: "fail (exit 1) when changes are found: drift checks",
  },
  "--diff": { commands: OPERATIONS, help: "show a detailed diff of every change" },
  "--parallel": {
    commands: OPERATIONS,
    value: { name: "N", parse: (raw) => String(parseParallel(raw)) },
    help: "run at most N resource operations at once (N >= 1)",
  },
  "--to": {
    commands: ["rollback"],
    value: { name: "DIGEST", parse: parseDigest },
    help: "pin this digest (one the stack deployed) instead of the previous one",
  },
  "--clear": { commands: ["rollback"], help: "remove the pin: deploys build or promote again" },
  "--refresh": { commands: ["preview", "up", "destroy"], help: "refresh state from the cloud first" },
  "--show-secrets": { commands: ["outputs"], help: "print secret outputs in clear text" },
  "--no-comment": { commands: OPERATIONS, help: "do not post the pull-request comment" },
  "--no-install": {
    commands: COMMANDS,
    help: "never fetch a missing Pulumi CLI or kind into .tools/: fail and say how to install them",
  },
  "--yes": { commands: COMMANDS, help: "accepted and ignored: the driver never prompts" },
};

const ALIASES: Record<string, string> = { "-y": "--yes" };

export function usage(stacks: readonly string[]): string {
  const flagLines = Object.entries(FLAGS).map(([name, spec]) => {
    const left = spec.value ? `${name} ${spec.value.name}` : name;
    return `  ${left.padEnd(22)}${spec.help} (${spec.commands.join(", ")})`;
  });
  return [
    "usage: tsx automation/cli.ts <command> <stack> [flags]",
    "       npm run <command> -- <stack> [flags]",
    "",
    "commands:",
    "  preview               show what would change",
    "  up                    create the stack if missing and deploy it",
    "  refresh               reconcile state with the real resources",
    "  destroy               delete every resource of the stack",
    "  outputs               print the stack outputs as JSON (secrets masked)",
    "  rollback              pin the image deployed before (or --to DIGEST) and deploy it; --clear unpins",
    "",
    `stacks: ${stacks.join(", ")} (any Pulumi.<stack>.yaml)`,
    "",
    "flags:",
    ...flagLines,
    "  -h, --help            this help",
    "",
    "exit codes: 0 success, 1 operation failed (or changes found with --expect-no-changes),",
    "            2 bad command line, 3 prerequisites missing",
  ].join("\n");
}

const USAGE_LINE = "usage: tsx automation/cli.ts <command> <stack> [flags] (--help for details)";

function fail(message: string): never {
  throw new UsageError(`${message}\n${USAGE_LINE}`);
}

function parseDigest(raw: string | undefined): string {
  if (raw === undefined || raw === "" || raw.startsWith("--")) {
    fail("--to needs a value: an image digest, e.g. --to sha256:<64 hex>");
  }
  if (!/^sha256:[a-f0-9]{64}$/.test(raw)) {
    fail(`--to "${raw}" is not allowed: expected an image digest sha256:<64 lowercase hex>`);
  }
  return raw;
}

function parseParallel(raw: string | undefined): number {
  if (raw === undefined || raw === "" || raw.startsWith("--")) {
    fail(`--parallel needs a value: a whole number >= 1, e.g. --parallel 4`);
  }
  if (!/^[0-9]+$/.test(raw) || Number(raw) < 1 || !Number.isSafeInteger(Number(raw))) {
    fail(`--parallel "${raw}" is not allowed: expected a whole number >= 1`);
  }
  return Number(raw);
}

/** Parses `argv` (without node and the script). `stacks` are the stack names allowed. */
export function parseArgs(argv: readonly string[], stacks: readonly string[]): ParsedArgs {
  if (argv.includes("--help") || argv.includes("-h")) return { kind: "help", text: usage(stacks) };

  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith("-")) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const rawName = eq >= 0 ? arg.slice(0, eq) : arg;
    const name = ALIASES[rawName] ?? rawName;
    const spec = FLAGS[name];
    if (!spec) {
      fail(`unknown flag "${rawName}"; allowed: ${Object.keys(FLAGS).join(", ")}, --help`);
    }
    if (flags.has(name)) fail(`flag "${name}" given twice`);
    if (spec.value) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      flags.set(name, spec.value.parse(value));
    } else {
      if (eq >= 0) fail(`flag "${rawName}" takes no value (got "${arg}")`);
      flags.set(name, true);
    }
  }

  const [command, stack, ...extra] = positional;
  if (command === undefined) fail(`missing command; allowed: ${COMMANDS.join(", ")}`);
  if (!(COMMANDS as readonly string[]).includes(command)) {
    fail(`unknown command "${command}"; allowed: ${COMMANDS.join(", ")}`);
  }
  const cmd = command as Command;
  if (stack === undefined) fail(`missing stack after "${cmd}"; allowed: ${stacks.join(", ")}`);
  if (!stacks.includes(stack)) {
    fail(`unknown stack "${stack}"; allowed: ${stacks.join(", ")} (or add a Pulumi.${stack}.yaml)`);
  }
  if (extra.length > 0) fail(`unexpected argument "${extra[0]}": give one command and one stack`);

  for (const name of flags.keys()) {
    const spec = FLAGS[name] as FlagSpec;
    if (!spec.commands.includes(cmd)) {
      fail(`flag "${name}" does not apply to "${cmd}"; it applies to: ${spec.commands.join(", ")}`);
    }
  }

  if (flags.has("--to") && flags.has("--clear")) fail("give either --to or --clear, not both");
  const parallel = flags.get("--parallel");
  const to = flags.get("--to");
  return {
    kind: "run",
    args: {
      command: cmd,
      stack,
      expectNoChanges: flags.has("--expect-no-changes"),
      diff: flags.has("--diff"),
      ...(typeof parallel === "string" ? { parallel: Number(parallel) } : {}),
      refresh: flags.has("--refresh"),
      showSecrets: flags.has("--show-secrets"),
      comment: !flags.has("--no-comment"),
      noInstall: flags.has("--no-install"),
      ...(typeof to === "string" ? { to } : {}),
      ...(flags.has("--clear") ? { clear: true } : {}),
    },
  };
}
