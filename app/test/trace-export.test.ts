import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { ROOT_CONTEXT, SpanKind } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AlwaysOnSampler, TracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { WorkerSpanExporter } from "../src/trace-export";

/** Real SDK spans, as the BatchSpanProcessor hands them to an exporter. */
function spans(names: string[]): ReadableSpan[] {
  const ended: ReadableSpan[] = [];
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ "service.name": "demo-app" }),
    sampler: new AlwaysOnSampler(),
    spanProcessors: [
      {
        onStart() {},
        onEnd: (span) => ended.push(span),
        forceFlush: async () => {},
        shutdown: async () => {},
      },
    ],
  });
  const tracer = provider.getTracer("test");
  for (const name of names) tracer.startSpan(name, { kind: SpanKind.SERVER }, ROOT_CONTEXT).end();
  return ended;
}

/** An OTLP/HTTP endpoint answering `status`, keeping each request's path, content type and body. */
async function collector(status: number) {
  const received: Array<{ url?: string; type?: string; body: string }> = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ url: req.url, type: req.headers["content-type"], body });
      res.writeHead(status, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

const exportOnce = (exporter: WorkerSpanExporter, batch: ReadableSpan[]) =>
  new Promise<ExportResult>((resolve) => exporter.export(batch, resolve));

describe("app: the span export worker", () => {
  it("posts each batch as OTLP/JSON from its thread, and reports success", async () => {
    const target = await collector(200);
    const exporter = new WorkerSpanExporter({ url: target.url });
    try {
      const result = await exportOnce(exporter, spans(["GET /", "GET /api/info"]));
      assert.equal(result.code, ExportResultCode.SUCCESS);
      await exporter.forceFlush();
      assert.equal(target.received.length, 1);
      const [request] = target.received;
      assert.equal(request!.url, "/v1/traces");
      assert.equal(request!.type, "application/json");
      const payload = JSON.parse(request!.body) as {
        resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<{ name: string }> }> }>;
      };
      const names = payload.resourceSpans.flatMap((r) =>
        r.scopeSpans.flatMap((s) => s.spans.map((x) => x.name)),
      );
      assert.deepEqual(names, ["GET /", "GET /api/info"]);
    } finally {
      await exporter.shutdown();
      await target.close();
    }
  });

  it("reports a collector's refusal as a failed export", async () => {
    const target = await collector(400);
    const exporter = new WorkerSpanExporter({ url: target.url });
    try {
      const result = await exportOnce(exporter, spans(["GET /"]));
      assert.equal(result.code, ExportResultCode.FAILED);
      assert.ok(result.error instanceof Error);
      assert.equal(target.received.length, 1, "a 400 is not retried");
    } finally {
      await exporter.shutdown();
      await target.close();
    }
  });

  it("after shutdown the worker is gone and an export fails at once", async () => {
    const target = await collector(200);
    const exporter = new WorkerSpanExporter({ url: target.url });
    await exporter.shutdown();
    const result = await exportOnce(exporter, spans(["GET /"]));
    assert.equal(result.code, ExportResultCode.FAILED);
    assert.match(String(result.error?.message), /span export worker exited/);
    assert.equal(target.received.length, 0);
    await exporter.shutdown(); // a second shutdown is a no-op
    await target.close();
  });
});
