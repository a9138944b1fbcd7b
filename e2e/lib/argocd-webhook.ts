/**
 * How Argo CD decides that a GitHub push event concerns an Application (argo-cd util/webhook/webhook.go,
 * read at the commit named in the git server's commit message), restated here so tests can check the
 * payloads our git server sends:
 *
 * - the event's `repository.html_url` becomes a case-insensitive regex: optional `http://`, `https://`
 *   or `ssh://`, an optional `user@`, an optional `ssh.`/`altssh.` subdomain, the URL's hostname, an
 *   optional `:port`, `:` or `/`, the URL's path (without the leading slash), an optional `.git`;
 * - an Application is refreshed when its `source.repoURL` matches that regex and `ref` names the
 *   branch its targetRevision tracks (`refs/heads/<branch>`; HEAD means the default branch).
 */
const USERNAME = String.raw`[\w\.][\w\.-]{0,30}[\w\.\$-]?`;

const escapeRegex = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The regex Argo CD builds from a push event's repository.html_url. */
export function argoCdRepoRegex(htmlUrl: string): RegExp {
  const url = new URL(htmlUrl);
  const host = escapeRegex(url.hostname);
  const repoPath = escapeRegex(url.pathname.replace(/^\//, ""));
  return new RegExp(
    String.raw`^((https?|ssh)://)?(${USERNAME}@)?((alt)?ssh\.)?${host}(:\d+)?[:/]${repoPath}(\.git)?$`,
    "i",
  );
}

/** Whether Argo CD would refresh an Application with `repoURL`/`targetRevision` on this push event. */
export function argoCdWouldRefresh(
  event: { ref: string; repository: { html_url: string; default_branch?: string } },
  app: { repoURL: string; targetRevision: string },
): boolean {
  const branch = event.ref.replace(/^refs\/(heads|tags)\//, "");
  const target = app.targetRevision.replace(/^refs\/(heads|tags)\//, "");
  const revisionMatches =
    target === "HEAD" || target === "" ? event.repository.default_branch === branch : target === branch;
  return revisionMatches && argoCdRepoRegex(event.repository.html_url).test(app.repoURL);
}
