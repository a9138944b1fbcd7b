import { parentPort, workerData } from "node:worker_threads";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPExporterBase } from "@opentelemetry/otlp-exporter-base";
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from "@opentelemetry/otlp-exporter-base/node-http";
import { JsonTraceSerializer, type ISerializer } from "@opentelemetry/otlp-transformer";
import type { ExportReply, ExportRequest, SerializedSpans, WorkerOptions } from "./trace-export";

/**
 * The export worker (see trace-export.ts): posts OTLP/JSON bodies the main thread serialised to the
 * collector with OpenTelemetry's own OTLP/HTTP delegate, the one OTLPTraceExporter is made of (the
 * OTEL_EXPORTER_OTLP_* headers, timeout and compression settings, retries with back-off on 429/502/503/504,
 * a bound on concurrent exports). Only the serialising step is skipped: the bodies arrive serialised.
 */
const { url } = workerData as WorkerOptions;
const serialized: ISerializer<SerializedSpans, unknown> = {
  serializeRequest: (batch) => batch.body,
  deserializeResponse: (data) => JsonTraceSerializer.deserializeResponse(data),
};
const exporter = new OTLPExporterBase<SerializedSpans>(
  createOtlpHttpExportDelegate(
    convertLegacyHttpOptions({ url }, "TRACES", "v1/traces", { "Content-Type": "application/json" }),
    serialized,
    "otlp_http_span_exporter",
    { name: "span", countItems: (batch) => batch.spans },
    undefined,
  ),
);

const port = parentPort!;
port.on("message", (message: ExportRequest) => {
  const reply = (result: ExportResult) =>
    port.postMessage({
      id: message.id,
      ok: result.code === ExportResultCode.SUCCESS,
      error: result.error?.message,
    } satisfies ExportReply);
  if (message.kind === "shutdown") {
    exporter.shutdown().then(
      () => reply({ code: ExportResultCode.SUCCESS }),
      (error: Error) => reply({ code: ExportResultCode.FAILED, error }),
    );
  } else {
    exporter.export(message.batch, reply);
  }
});
