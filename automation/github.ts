/**
 * The pull-request side: which PR this run belongs to (from the GitHub Actions environment) and one
 * comment per command and stack, found by its hidden marker and edited instead of added on re-runs.
 */
import * as fs from "node:fs";

type Env = Readonly<Record<string, string | undefined>>;

export interface PullRequestContext {
  owner: string;
  repo: string;
  number: number;
  token: string;
  /** The pull request's head commit, when the event payload has it. */
  headSha?: string;
}

export type PullRequestResolution =
  { context: PullRequestContext; reason?: undefined } | { context?: undefined; reason: string };

const PR_EVENTS = new Set(["pull_request", "pull_request_target"]);

function readEvent(
  eventPath: string | undefined,
  readFile: (p: string) => string,
): { number?: number; headSha?: string } {
  if (!eventPath) return {};
  try {
    const event = JSON.parse(readFile(eventPath)) as {
      pull_request?: { number?: unknown; head?: { sha?: unknown } };
      number?: unknown;
    };
    const n = event.pull_request?.number ?? event.number;
    const sha = event.pull_request?.head?.sha;
    return {
      ...(typeof n === "number" && Number.isInteger(n) && n > 0 ? { number: n } : {}),
      ...(typeof sha === "string" && sha !== "" ? { headSha: sha } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * The pull request to comment on, or why there is none: not a pull_request event, no PR number (from
 * GITHUB_EVENT_PATH, else GITHUB_REF `refs/pull/<n>/merge`), no GITHUB_REPOSITORY, no GITHUB_TOKEN.
 */
export function resolvePullRequest(
  env: Env,
  readFile: (p: string) => string = (p) => fs.readFileSync(p, "utf8"),
): PullRequestResolution {
  const event = env.GITHUB_EVENT_NAME;
  if (!event || !PR_EVENTS.has(event))
    return { reason: `not a pull request (GITHUB_EVENT_NAME=${event ?? ""})` };
  const fromEvent = readEvent(env.GITHUB_EVENT_PATH, readFile);
  const number =
    fromEvent.number ??
    (() => {
      const m = /^refs\/pull\/(\d+)\/(merge|head)$/.exec(env.GITHUB_REF ?? "");
      return m ? Number(m[1]) : undefined;
    })();
  if (number === undefined) return { reason: "no pull request number in GITHUB_EVENT_PATH or GITHUB_REF" };
  const [owner, repo, ...rest] = (env.GITHUB_REPOSITORY ?? "").split("/");
  if (!owner || !repo || rest.length > 0) {
    return { reason: `GITHUB_REPOSITORY is not owner/name (got "${env.GITHUB_REPOSITORY ?? ""}")` };
  }
  const token = env.GITHUB_TOKEN;
  if (!token)
    return { reason: "GITHUB_TOKEN is not set (give the step env GITHUB_TOKEN: ${{ github.token }})" };
  return {
    context: { owner, repo, number, token, ...(fromEvent.headSha ? { headSha: fromEvent.headSha } : {}) },
  };
}

export interface IssueComment {
  id: number;
  body?: string | null;
}

/** The slice of the GitHub API the driver uses; the runner implements it with Octokit. */
export interface CommentsApi {
  /** Every comment of the issue or pull request (all pages). */
  listComments(owner: string, repo: string, issueNumber: number): Promise<IssueComment[]>;
  createComment(owner: string, repo: string, issueNumber: number, body: string): Promise<{ id: number }>;
  updateComment(owner: string, repo: string, commentId: number, body: string): Promise<void>;
}

export interface UpsertResult {
  action: "created" | "updated";
  id: number;
}

/**
 * Edits the first comment that contains `marker`, or creates one. `body` must contain the marker so
 * the next run finds it again.
 */
export async function upsertComment(
  api: CommentsApi,
  pr: Pick<PullRequestContext, "owner" | "repo" | "number">,
  marker: string,
  body: string,
): Promise<UpsertResult> {
  if (!body.includes(marker)) throw new Error(`comment body must contain its marker ${marker}`);
  const comments = await api.listComments(pr.owner, pr.repo, pr.number);
  const existing = comments.find((c) => (c.body ?? "").includes(marker));
  if (existing) {
    await api.updateComment(pr.owner, pr.repo, existing.id, body);
    return { action: "updated", id: existing.id };
  }
  const created = await api.createComment(pr.owner, pr.repo, pr.number, body);
  return { action: "created", id: created.id };
}
