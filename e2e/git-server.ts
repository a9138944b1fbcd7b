/**
 * The dev stack's local git server, for real: gitserver/Dockerfile built offline on the local Debian
 * base, the real gitops/ tree pushed with real git over smart HTTP through the very script Pulumi runs
 * (components/gitops/local-git-commit.sh), cloned back anonymously as Argo CD does, an image file
 * committed, and every push's webhook delivery checked by a receiver that verifies the signature like
 * Argo CD: right secret accepted, wrong secret rejected. The repository survives a restart and a new
 * container on the same volume.
 *
 * The container runs with host networking bound to 127.0.0.1, so the hook reaches the receiver on
 * loopback (in dev it joins the kind network instead).
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { argoCdWouldRefresh } from "./lib/argocd-webhook";
import { run, sleep, tryRun, type RunResult } from "./lib/exec";
import { freePort, get } from "./lib/http";
import { WebhookReceiver, type Delivery } from "./lib/webhook-receiver";

const ROOT = path.resolve(__dirname, "..");
const COMMIT_SCRIPT = path.join(ROOT, "components/gitops/local-git-commit.sh");
const REPOSITORY = "gitops.git";
/** The URL Argo CD would hold: the container's name on the kind network. */
const PUBLIC_URL = `http://gitops-e2e-git:8080/git/${REPOSITORY}`;
const KEEP = "envs/dev/image.yaml";

type Check = (condition: unknown, what: string, detail?: unknown) => asserts condition;
type Step = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

export interface GitServerContext {
  /** Scratch directory (.e2e). */
  work: string;
  /** Base image with apt-get (the local Debian minbase). */
  baseImage: string;
  stamp: string;
  check: Check;
  step: Step;
  /** Registers a cleanup, run in reverse order at the end. */
  cleanup: (fn: () => Promise<unknown>) => void;
}

export interface GitServerReport {
  buildSeconds: number;
  imageSizeMiB: number;
  pushSeconds: number;
  /** From the end of `git push` to the delivery being recorded. */
  deliveries: number;
  files: number;
}

interface PushPayload {
  ref: string;
  before: string;
  after: string;
  repository: { html_url: string; default_branch: string };
  commits: { id: string; message: string; added: string[]; modified: string[]; removed: string[] }[];
}

export async function gitServerChecks(ctx: GitServerContext): Promise<GitServerReport> {
  const check: Check = ctx.check;
  const step: Step = ctx.step;
  const image = `gitops-e2e/gitserver:${ctx.stamp}`;
  const container = `gitops-e2e-git-${ctx.stamp}`;
  const volume = `gitops-e2e-git-data-${ctx.stamp}`;
  const secret = randomBytes(20).toString("hex");
  const password = randomBytes(16).toString("hex");
  const authHeader = `Authorization: Basic ${Buffer.from(`pulumi:${password}`).toString("base64")}`;
  const port = await freePort();
  const pushUrl = `http://127.0.0.1:${port}/git/${REPOSITORY}`;
  const report: GitServerReport = {
    buildSeconds: 0,
    imageSizeMiB: 0,
    pushSeconds: 0,
    deliveries: 0,
    files: 0,
  };

  await step("git server: build gitserver/Dockerfile on the local base", async () => {
    const t = Date.now();
    await run(
      "docker",
      [
        "build",
        "--network",
        "host",
        "--build-arg",
        `BASE_IMAGE=${ctx.baseImage}`,
        "-t",
        image,
        path.join(ROOT, "gitserver"),
      ],
      {
        env: { DOCKER_BUILDKIT: "0" },
        logFile: path.join(ctx.work, "gitserver-build.log"),
        timeoutMs: 600_000,
      },
    );
    report.buildSeconds = (Date.now() - t) / 1000;
    ctx.cleanup(() => tryRun("docker", ["rmi", "--no-prune", image]));
    const user = await run("docker", ["image", "inspect", "--format", "{{.Config.User}}", image]);
    check(user === "10001:10001", "git server image runs as 10001:10001", user);
    report.imageSizeMiB = +(
      Number(await run("docker", ["image", "inspect", "--format", "{{.Size}}", image])) /
      2 ** 20
    ).toFixed(1);
  });

  const receiver = await WebhookReceiver.start(secret);
  ctx.cleanup(() => receiver.close());
  const envFile = path.join(ctx.work, `gitserver-${ctx.stamp}.env`);
  ctx.cleanup(async () => fs.rmSync(envFile, { force: true }));
  ctx.cleanup(() => tryRun("docker", ["volume", "rm", "--force", volume]));
  ctx.cleanup(() => tryRun("docker", ["rm", "--force", container], { timeoutMs: 30_000 }));

  const start = async (webhookSecret: string) => {
    // Secrets through a 0600 env file, not the command line.
    fs.writeFileSync(envFile, `GIT_PUSH_PASSWORD=${password}\nWEBHOOK_SECRET=${webhookSecret}\n`, {
      mode: 0o600,
    });
    await run("docker", [
      "run",
      "--detach",
      "--name",
      container,
      "--network",
      "host",
      "--read-only",
      "--tmpfs",
      "/run/gitserver:uid=10001,gid=10001,mode=0700",
      "--tmpfs",
      "/tmp",
      "--tmpfs",
      "/var/tmp",
      "--cap-drop",
      "ALL",
      "--security-opt",
      "no-new-privileges",
      "--memory",
      "256m",
      "--volume",
      `${volume}:/srv/git`,
      "--env",
      `GIT_REPOSITORY=${REPOSITORY}`,
      "--env",
      `GIT_PUBLIC_URL=${PUBLIC_URL}`,
      "--env",
      `WEBHOOK_URL=${receiver.url}`,
      "--env",
      "LISTEN_ADDRESS=127.0.0.1",
      "--env",
      `LISTEN_PORT=${port}`,
      "--env-file",
      envFile,
      image,
    ]);
    await waitReady();
  };
  const waitReady = async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const status = await get(`${pushUrl}/info/refs?service=git-upload-pack`, { timeoutMs: 1000 }).then(
        (r) => r.status,
        () => 0,
      );
      if (status === 200) return;
      if (Date.now() > deadline) {
        const logs = await tryRun("docker", ["logs", container]);
        throw new Error(
          `git server not ready within 30 s (last status ${status}):\n${logs.stdout}${logs.stderr}`,
        );
      }
      await sleep(200);
    }
  };
  const commit = (env: Record<string, string>, input?: string): Promise<RunResult> =>
    tryRun("bash", [COMMIT_SCRIPT], {
      env: { GIT_URL: pushUrl, GIT_BRANCH: "main", GIT_AUTH_HEADER: authHeader, ...env },
      ...(input !== undefined ? { input } : {}),
      timeoutMs: 120_000,
    });
  const payloadOf = (d: Delivery) => JSON.parse(d.body.toString("utf8")) as PushPayload;
  const remoteHead = async () => (await run("git", ["ls-remote", pushUrl, "refs/heads/main"])).split(/\s/)[0];

  await step("git server: start with its data in a named volume", async () => {
    await start(secret);
    const logs = await run("docker", ["logs", container]);
    check(
      /created \/srv\/git\/gitops\.git/.test(logs),
      "the server created the bare repository on first start",
      logs,
    );
    check(
      !logs.includes(secret) && !logs.includes(password),
      "its log holds neither the webhook secret nor the push password",
    );
  });

  let treeSha = "";
  await step("git server: push the real gitops/ tree over smart HTTP", async () => {
    const before = receiver.deliveries.length;
    const t = Date.now();
    const pushed = await commit({
      GIT_MESSAGE: "gitops: gitops/ from the working tree (e2e)",
      COMMIT_PATH: "gitops",
      COMMIT_SOURCE: path.join(ROOT, "gitops"),
      COMMIT_KEEP: KEEP,
    });
    report.pushSeconds = (Date.now() - t) / 1000;
    check(pushed.code === 0, "the commit script pushed gitops/ (authenticated push)", pushed.stderr);
    treeSha = pushed.stdout.trim();
    check(treeSha === (await remoteHead()), "the server's main is the pushed commit", treeSha);
    const delivery = await receiver.waitForMore(before);
    check(
      delivery.event === "push" && delivery.contentType === "application/json",
      "the hook POSTed a JSON push event",
      delivery,
    );
    check(
      delivery.signatureValid && delivery.status === 200,
      "its X-Hub-Signature-256 verifies with the shared secret",
      delivery.signature,
    );
    const payload = payloadOf(delivery);
    check(
      payload.ref === "refs/heads/main" && payload.after === treeSha && /^0{40}$/.test(payload.before),
      "ref, before (new branch) and after are the push's",
      payload,
    );
    check(
      argoCdWouldRefresh(payload, { repoURL: PUBLIC_URL, targetRevision: "main" }) &&
        argoCdWouldRefresh(payload, { repoURL: PUBLIC_URL, targetRevision: "HEAD" }),
      `Argo CD's matching accepts html_url ${payload.repository.html_url} for repoURL ${PUBLIC_URL} (main and HEAD)`,
      payload.repository,
    );
    const added = payload.commits.flatMap((c) => c.added);
    check(
      added.includes("gitops/apps/Chart.yaml") && added.includes("gitops/envs/dev/values.yaml"),
      "the event lists the commit's added files",
      added.slice(0, 10),
    );
    check(
      !added.includes(`gitops/${KEEP}`),
      "the tree commit leaves the env's image file to its own commit",
      added,
    );
    check(
      (await tryRun("bash", ["-c", `ps -eo args | grep -F -- '${secret}' | grep -v grep`])).stdout === "",
      "the secret never appeared on a command line",
    );
  });

  await step("git server: clone it back anonymously, as Argo CD does", async () => {
    const clone = fs.mkdtempSync(path.join(ctx.work, "clone-"));
    ctx.cleanup(async () => fs.rmSync(clone, { recursive: true, force: true }));
    await run("git", ["clone", "--quiet", pushUrl, clone], { env: { GIT_TERMINAL_PROMPT: "0" } });
    const diff = await tryRun("diff", [
      "-r",
      "--exclude=image.yaml",
      path.join(ROOT, "gitops"),
      path.join(clone, "gitops"),
    ]);
    check(
      diff.code === 0,
      "the clone's gitops/ is the working tree's, byte for byte",
      diff.stdout.slice(0, 500),
    );
    report.files = Number(
      await run("git", ["-C", clone, "ls-files", "--", "gitops"]).then((o) => o.split("\n").length),
    );
    const anonymous = await tryRun("git", ["-C", clone, "push", "origin", "HEAD:refs/heads/anonymous"], {
      env: { GIT_TERMINAL_PROMPT: "0" },
    });
    check(
      anonymous.code !== 0 && /401|Authentication|could not read Username/i.test(anonymous.stderr),
      "a push without credentials is refused",
      anonymous.stderr,
    );
  });

  const imageFile = (tag: string) =>
    `# Written by Pulumi (gitops-platform) on every deploy; do not edit by hand.\nimage:\n  repository: localhost:5001/demo-app\n  tag: ${tag}\n  digest: sha256:${"c".repeat(64)}\n`;
  let imageSha = "";
  await step("git server: commit the image file, unchanged content makes no commit", async () => {
    const before = receiver.deliveries.length;
    const message = `deploy(dev): localhost:5001/demo-app:e2e-1@sha256:${"c".repeat(64)}`;
    const pushed = await commit({ GIT_MESSAGE: message, COMMIT_PATH: `gitops/${KEEP}` }, imageFile("e2e-1"));
    check(pushed.code === 0, "the image file was committed and pushed", pushed.stderr);
    imageSha = pushed.stdout.trim();
    const payload = payloadOf(await receiver.waitForMore(before));
    const commitEntry = payload.commits.find((c) => c.id === imageSha);
    check(
      commitEntry?.message === message && commitEntry.added.includes(`gitops/${KEEP}`),
      "its push event names the image in the message and lists gitops/envs/dev/image.yaml",
      payload.commits,
    );
    check(/notified Argo CD of main/.test(pushed.stderr), "the pusher sees the hook's notice", pushed.stderr);

    const count = receiver.deliveries.length;
    const again = await commit({
      GIT_MESSAGE: "gitops: again",
      COMMIT_PATH: "gitops",
      COMMIT_SOURCE: path.join(ROOT, "gitops"),
      COMMIT_KEEP: KEEP,
    });
    check(
      again.code === 0 && again.stdout.trim() === imageSha && /unchanged: no commit/.test(again.stderr),
      "re-pushing the same tree makes no commit and keeps the image file",
      again,
    );
    await sleep(500);
    check(receiver.deliveries.length === count, "no commit, no event");
  });

  await step("git server: nothing lost across a restart and a new container on the volume", async () => {
    await run("docker", ["restart", "--time", "5", container], { timeoutMs: 60_000 });
    await waitReady();
    check((await remoteHead()) === imageSha, "after docker restart, main is still the last pushed commit");

    await run("docker", ["rm", "--force", container], { timeoutMs: 30_000 });
    await start("not-the-shared-secret");
    const logs = await run("docker", ["logs", container]);
    check(
      /serving \/srv\/git\/gitops\.git \(2 commits\)/.test(logs),
      "a new container on the same volume serves both commits",
      logs,
    );
    check((await remoteHead()) === imageSha, "main is still the last pushed commit");

    const before = receiver.deliveries.length;
    const pushed = await commit(
      { GIT_MESSAGE: "deploy(dev): e2e-2", COMMIT_PATH: `gitops/${KEEP}` },
      imageFile("e2e-2"),
    );
    check(
      pushed.code === 0,
      "a push still succeeds when Argo CD cannot be told (polling picks it up)",
      pushed.stderr,
    );
    const delivery = await receiver.waitForMore(before);
    check(
      !delivery.signatureValid && delivery.status === 401,
      "a delivery signed with a wrong secret is rejected by the receiver",
      delivery,
    );
    check(
      /could not notify Argo CD of main \(401\)/.test(pushed.stderr),
      "and the pusher is told the notification failed",
      pushed.stderr,
    );
  });

  report.deliveries = receiver.deliveries.length;
  return report;
}
