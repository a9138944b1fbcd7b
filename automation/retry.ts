/**
 * Retry of a stack operation that hit another update's lock: bounded exponential backoff with jitter,
 * then a failure that names the lock holder. The driver never cancels someone else's update.
 */

export interface RetryPolicy {
  /** Tries in total, the first included. */
  attempts: number;
  /** Delay before the first retry; doubles each retry. */
  baseDelayMs: number;
  /** Upper bound of any one delay. */
  maxDelayMs: number;
}

export const DEFAULT_LOCK_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 5_000, maxDelayMs: 60_000 };

const LOCK_TEXTS = ["the stack is currently locked", "Another update is currently in progress"];

/** A concurrent-update error: Automation API's ConcurrentUpdateError, or its message text. */
export function isConcurrentUpdateError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === "ConcurrentUpdateError") return true;
  return LOCK_TEXTS.some((t) => err.message.includes(t));
}

/**
 * Lock holders from the error text. Self-managed backends list each lock as
 * `<lock file>: created by <user>@<host> (pid <n>) at <time>`; Pulumi Cloud says only that another
 * update is in progress.
 */
export function parseLockHolders(message: string): string[] {
  const holders: string[] = [];
  const re = /(\S+\.json):\s*created by (\S+) \(pid (\d+)\) at (\S+)/g;
  for (const m of message.matchAll(re)) {
    holders.push(`${m[2]} (pid ${m[3]}) since ${m[4]}, lock file ${m[1]}`);
  }
  if (holders.length === 0 && message.includes("Another update is currently in progress")) {
    holders.push("another update in Pulumi Cloud (see the stack's activity page)");
  }
  return holders;
}

/**
 * Delay before retry number `retry` (1-based): exponential up to the cap, "equal jitter" (half fixed,
 * half random) so concurrent waiters spread out but never retry immediately.
 */
export function backoffDelay(retry: number, policy: RetryPolicy, random: () => number): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

export class StackLockedError extends Error {
  override readonly name = "StackLockedError";
  constructor(
    readonly stackName: string,
    readonly attempts: number,
    readonly waitedMs: number,
    readonly holders: string[],
    cause: unknown,
  ) {
    const who = holders.length > 0 ? holders.join("; ") : "unknown holder (the error named none)";
    super(
      `stack "${stackName}" is still locked after ${attempts} attempts over ${Math.round(waitedMs / 1000)} s; ` +
        `held by: ${who}. Wait for that update to finish and run again. If it is dead (no such process), ` +
        `remove its lock after checking: \`pulumi cancel --stack ${stackName}\`. This driver never cancels.`,
      { cause },
    );
  }
}

export interface RetryHooks {
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  /** Called before each wait. */
  onRetry?: (info: { retry: number; delayMs: number; holders: string[] }) => void;
}

/** Runs `fn`, retrying concurrent-update errors per `policy`; other errors pass straight through. */
export async function withLockRetry<T>(
  stack: string,
  fn: () => Promise<T>,
  policy: RetryPolicy,
  hooks: RetryHooks,
): Promise<T> {
  let waited = 0;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConcurrentUpdateError(err)) throw err;
      const holders = parseLockHolders((err as Error).message);
      if (attempt >= policy.attempts) throw new StackLockedError(stack, attempt, waited, holders, err);
      const delayMs = backoffDelay(attempt, policy, hooks.random);
      hooks.onRetry?.({ retry: attempt, delayMs, holders });
      await hooks.sleep(delayMs);
      waited += delayMs;
    }
  }
}
