import { createHmac, timingSafeEqual } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface Delivery {
  event: string | undefined;
  signature: string | undefined;
  /** Whether X-Hub-Signature-256 is the HMAC-SHA256 of the raw body under the receiver's secret. */
  signatureValid: boolean;
  contentType: string | undefined;
  body: Buffer;
  /** The status the receiver answered: 200 when the signature is valid, else 401. */
  status: number;
}

/**
 * A stand-in for Argo CD's /api/webhook on 127.0.0.1: records every POST and checks its signature the
 * way Argo CD's GitHub parser does (X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>),
 * answering 401 to a wrong one. Bodies are capped at 1 MiB.
 */
export class WebhookReceiver {
  readonly deliveries: Delivery[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    private readonly server: http.Server,
    private readonly secret: string,
  ) {}

  static async start(secret: string): Promise<WebhookReceiver> {
    const server = http.createServer();
    const receiver = new WebhookReceiver(server, secret);
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => receiver.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/webhook`;
  }

  /** Resolves once more than `count` deliveries arrived, or rejects after `timeoutMs`. */
  async waitForMore(count: number, timeoutMs = 15_000): Promise<Delivery> {
    const deadline = Date.now() + timeoutMs;
    while (this.deliveries.length <= count) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no webhook delivery within ${timeoutMs} ms (${count} so far)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.deliveries[count]!;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > 1024 * 1024) req.destroy();
      else chunks.push(chunk);
    });
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const signature = req.headers["x-hub-signature-256"] as string | undefined;
      const expected = `sha256=${createHmac("sha256", this.secret).update(body).digest("hex")}`;
      const signatureValid =
        signature !== undefined &&
        signature.length === expected.length &&
        timingSafeEqual(Buffer.from(signature), Buffer.from(expected));
      const status = req.method === "POST" && signatureValid ? 200 : 401;
      this.deliveries.push({
        event: req.headers["x-github-event"] as string | undefined,
        signature,
        signatureValid,
        contentType: req.headers["content-type"],
        body,
        status,
      });
      res
        .writeHead(status, { "content-type": "text/plain" })
        .end(status === 200 ? "ok\n" : "bad signature\n");
      for (const wake of this.waiters.splice(0)) wake();
    });
  }
}
