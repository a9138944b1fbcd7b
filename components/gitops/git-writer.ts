import * as command from "@pulumi/command";
import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";

/** One file with the content it gets. */
export interface FileChange {
  /** Path in the repository. */
  file: string;
  content: pulumi.Input<string>;
}

/** A directory of the working tree copied to `tree` in the repository (files removed there go too). */
export interface TreeChange {
  /** Path in the repository that the directory replaces, e.g. "gitops". */
  tree: string;
  /** The directory on this machine. */
  sourceDir: string;
  /** Paths under `tree` left as the branch has them: files another commit owns. Default: none. */
  keep?: string[];
}

/** Arguments of {@link GitRepositoryWriter.commit}. */
export interface GitCommitArgs {
  /** Branch the commit goes on. */
  branch: string;
  /** Branch `branch` is created from when it does not exist yet (GitHub; the local writer starts a missing branch empty). Default: none. */
  createFrom?: string;
  /** Commit message; it names what is deployed (the image). */
  message: pulumi.Input<string>;
  change: FileChange | TreeChange;
}

/** Where a commit sits in the resource tree and what it waits for. */
export interface CommitOptions {
  parent: pulumi.Resource;
  dependsOn?: pulumi.Resource[];
}

/**
 * Writes to the GitOps repository Argo CD reads. Each commit is an ordinary resource created where
 * `commit` is called (never inside an apply), so previews show it; it changes only with its content.
 */
export interface GitRepositoryWriter {
  /** Commits the change; the returned resource is what later steps (Argo CD's objects) wait for. */
  commit(name: string, args: GitCommitArgs, opts: CommitOptions): pulumi.Resource;
}

const isTree = (change: GitCommitArgs["change"]): change is TreeChange => "tree" in change;

/** Writes through the GitHub API (`github.RepositoryFile`, one commit per file): staging and prod. */
export class GitHubRepositoryWriter implements GitRepositoryWriter {
  /** @param repository the repository name; the owner comes from the GitHub provider of `opts`. */
  constructor(private readonly repository: string) {}

  commit(name: string, args: GitCommitArgs, opts: CommitOptions): pulumi.Resource {
    if (isTree(args.change)) {
      throw new Error(
        `GitHubRepositoryWriter: cannot commit the tree ${args.change.tree}: the GitHub repository holds gitops/ from your pushes; only files are written through the API`,
      );
    }
    return new github.RepositoryFile(
      name,
      {
        repository: this.repository,
        branch: args.branch,
        ...(args.createFrom && args.createFrom !== args.branch
          ? { autocreateBranch: true, autocreateBranchSourceBranch: args.createFrom }
          : {}),
        file: args.change.file,
        content: args.change.content,
        commitMessage: args.message,
        overwriteOnCreate: true,
      },
      opts,
    );
  }
}

/** Arguments of {@link LocalGitRepositoryWriter}. */
export interface LocalGitWriterArgs {
  /** URL Pulumi pushes to: the local git server's host port, e.g. http://127.0.0.1:3000/git/gitops.git. */
  pushUrl: pulumi.Input<string>;
  /** HTTP header authenticating the push (`Authorization: Basic ...`); kept secret. */
  authHeader: pulumi.Input<string>;
  /** Resources every commit waits for (the git server container). Default: none. */
  dependsOn?: pulumi.Resource[];
}

/** The script each local commit runs (real `git` over smart HTTP). */
export const LOCAL_GIT_COMMIT_SCRIPT = path.join(__dirname, "local-git-commit.sh");

/**
 * Writes with real `git` against a git server over smart HTTP (the dev stack's local server): a
 * `@pulumi/command` local Command per commit, replaced only when the content's hash changes; an
 * unchanged tree or file makes no commit.
 */
export class LocalGitRepositoryWriter implements GitRepositoryWriter {
  constructor(private readonly args: LocalGitWriterArgs) {}

  commit(name: string, args: GitCommitArgs, opts: CommitOptions): pulumi.Resource {
    const change = args.change;
    const tree = isTree(change);
    const contentHash = tree
      ? treeDigest(change.sourceDir, change.keep ?? [])
      : pulumi.output(change.content).apply(sha256);
    return new command.local.Command(
      name,
      {
        create: `bash ${shellQuote(LOCAL_GIT_COMMIT_SCRIPT)}`,
        environment: {
          GIT_URL: this.args.pushUrl,
          GIT_BRANCH: args.branch,
          GIT_MESSAGE: args.message,
          GIT_AUTH_HEADER: pulumi.secret(this.args.authHeader),
          COMMIT_PATH: tree ? change.tree : change.file,
          ...(tree ? { COMMIT_SOURCE: change.sourceDir, COMMIT_KEEP: (change.keep ?? []).join("\n") } : {}),
          CONTENT_SHA256: contentHash,
        },
        ...(tree ? {} : { stdin: change.content }),
        // A new hash replaces the resource, which runs the commit again; nothing runs on delete.
        triggers: [contentHash],
      },
      { ...opts, dependsOn: [...(opts.dependsOn ?? []), ...(this.args.dependsOn ?? [])] },
    );
  }
}

export function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** Files under `dir`, relative with '/' separators, sorted. */
export function listTree(dir: string): string[] {
  const found: string[] = [];
  const walk = (rel: string) => {
    for (const entry of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const child = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) found.push(child);
    }
  };
  walk("");
  return found.sort();
}

/** SHA-256 over the paths and contents of the files under `dir`, except `keep`: equal trees, equal digests. */
export function treeDigest(dir: string, keep: readonly string[] = []): string {
  const hash = createHash("sha256");
  for (const file of listTree(dir).filter((f) => !keep.includes(f))) {
    hash.update(`${file}\0`);
    hash.update(fs.readFileSync(path.join(dir, file)));
    hash.update("\0");
  }
  return hash.digest("hex");
}
