/**
 * The real implementations of the driver's two boundaries: Pulumi's Automation API (LocalWorkspace,
 * which drives the `pulumi` CLI) and the GitHub REST API (Octokit). Both are loaded on first use, so a
 * failed prerequisite check never pays for loading them.
 */
import type { CommentsApi } from "./github";
import type { StackApi, StackHandle } from "./stack-api";

export const localWorkspaceApi: StackApi = {
  async createOrSelectStack({ stackName, workDir, envVars, pulumiRoot }): Promise<StackHandle> {
    const { LocalWorkspace, PulumiCommand } = await import("@pulumi/pulumi/automation");
    const pulumiCommand = pulumiRoot ? await PulumiCommand.get({ root: pulumiRoot }) : undefined;
    return LocalWorkspace.createOrSelectStack(
      { stackName, workDir },
      { envVars, ...(pulumiCommand ? { pulumiCommand } : {}) },
    );
  },
};

/** Comments through Octokit; `baseUrl` is GitHub Enterprise Server's API (GITHUB_API_URL in Actions). */
export async function octokitCommentsApi(token: string, baseUrl?: string): Promise<CommentsApi> {
  const { Octokit } = await import("@octokit/rest");
  const octokit = new Octokit({
    auth: token,
    userAgent: "gitops-platform-automation",
    ...(baseUrl ? { baseUrl } : {}),
  });
  return {
    async listComments(owner, repo, issueNumber) {
      const comments = await octokit.paginate(octokit.rest.issues.listComments, {
        owner,
        repo,
        issue_number: issueNumber,
        per_page: 100,
      });
      return comments.map((c) => ({ id: c.id, body: c.body ?? null }));
    },
    async createComment(owner, repo, issueNumber, body) {
      const { data } = await octokit.rest.issues.createComment({
        owner,
        repo,
        issue_number: issueNumber,
        body,
      });
      return { id: data.id };
    },
    async updateComment(owner, repo, commentId, body) {
      await octokit.rest.issues.updateComment({ owner, repo, comment_id: commentId, body });
    },
  };
}
