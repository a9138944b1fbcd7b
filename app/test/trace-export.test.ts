import { strict as assert } from "node:assert";
import { ROOT_CONTEXT, SpanKind } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AlwaysOnSampler, TracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { otlpReceiver } from "../../test/support/otlp-receiver";
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

const exportOnce = (exporter: WorkerSpanExporter, batch: ReadableSpan[]) =>
  new Promise<ExportResult>((resolve) => exporter.export(batch, resolve));

describe("app: the span export worker", () => {
  it("posts each batch as OTLP/JSON from its thread, and reports success", async () => {
    const target = await otlpReceiver();
    const exporter = new WorkerSpanExporter({ url: `${target.url}/v1/traces` });
    try {
      const result = await exportOnce(exporter, spans(["GET /", "GET /api/info"]));
      assert.equal(result.code, ExportResultCode.SUCCESS);
      await exporter.forceFlush();
      assert.deepEqual(target.requests, ["POST /v1/traces application/json"]);
      assert.deepEqual(
        target.spans.map((s) => s.name),
        ["GET /", "GET /api/info"],
      );
    } finally {
      await exporter.shutdown();
      await target.close();
    }
  });

  it("reports a collector's refusal as a failed export", async () => {
    const target = await otlpReceiver(400);
    const exporter = new WorkerSpanExporter({ url: `${target.url}/v1/traces` });
    try {
      const result = await exportOnce(exporter, spans(["GET /"]));
      assert.equal(result.code, ExportResultCode.FAILED);
      assert.ok(result.error instanceof Error);
      assert.equal(target.requests.length, 1, "a 400 is not retried");
    } finally {
      await exporter.shutdown();
      await target.close();
    }
  });

  it("after shutdown the worker is gone and an export fails at once", async () => {
    const target = await otlpReceiver();
    const exporter = new WorkerSpanExporter({ url: `${target.url}/v1/traces` });
    await exporter.shutdown();
    const result = await exportOnce(exporter, spans(["GET /"]));
    assert.equal(result.code, ExportResultCode.FAILED);
    assert.match(String(result.error?.message), /span export worker exited/);
    assert.deepEqual(target.requests, []);
    await exporter.shutdown(); // a second shutdown is a no-op
    await target.close();
  });
});
