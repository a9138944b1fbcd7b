import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { JsonTraceSerializer } from "@opentelemetry/otlp-transformer";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace";

/** What the export worker is started with. */
export interface WorkerOptions {
  /** The OTLP/HTTP traces URL the spans are posted to. */
  readonly url: string;
}
/** One batch as the worker receives it: an OTLP/JSON ExportTraceServiceRequest and how many spans it holds. */
export interface SerializedSpans {
  readonly body: Uint8Array;
  readonly spans: number;
}
export type ExportRequest =
  | { readonly kind: "export"; readonly id: number; readonly batch: SerializedSpans }
  | { readonly kind: "shutdown"; readonly id: number };
export interface ExportReply {
  readonly id: number;
  readonly ok: boolean;
  readonly error?: string;
}

/** trace-export-worker.js next to this file (.ts when run from source under tsx, which workers inherit). */
const WORKER_FILE = path.join(__dirname, `trace-export-worker${path.extname(__filename)}`);

/**
 * An OTLP/HTTP (JSON) span exporter whose network side runs in a worker thread.
 *
 * Why a thread: Node's HTTP client shares its request and response code with the HTTP server. One client
 * request in the serving isolate leaves that shared code slower for every response after it (about 5 % of
 * this app's throughput in bench/app.ts, from a single POST at start-up), so the OTLP client runs in an
 * isolate of its own. The main thread only serialises each batch with OpenTelemetry's JsonTraceSerializer
 * (about 1 µs a span) and hands the bytes over without copying them; the worker posts them with the OTLP
 * exporter's own transport (trace-export-worker.ts).
 */
export class WorkerSpanExporter implements SpanExporter {
  private readonly worker: Worker;
  /** What the worker has been handed and not yet answered, by request id. */
  private readonly pending = new Map<
    number,
    { callback: (r: ExportResult) => void; done: () => void; settled: Promise<void> }
  >();
  private lastId = 0;
  /** Set once the worker has failed or exited: every later export fails with it at once. */
  private failure: Error | undefined;

  constructor(options: WorkerOptions) {
    this.worker = new Worker(WORKER_FILE, { workerData: options satisfies WorkerOptions });
    // An unanswered export must not keep the process alive; shutdown() waits for the worker when asked to.
    this.worker.unref();
    this.worker.on("message", (reply: ExportReply) =>
      this.settle(
        reply.id,
        reply.ok
          ? { code: ExportResultCode.SUCCESS }
          : { code: ExportResultCode.FAILED, error: new Error(reply.error ?? "span export failed") },
      ),
    );
    this.worker.on("error", (error: unknown) =>
      this.fail(error instanceof Error ? error : new Error(String(error))),
    );
    this.worker.on("exit", (code) => this.fail(new Error(`the span export worker exited (${code})`)));
  }

  export(spans: ReadableSpan[], resultCallback: (result: ExportResult) => void): void {
    if (this.failure) return resultCallback({ code: ExportResultCode.FAILED, error: this.failure });
    const body = JsonTraceSerializer.serializeRequest(spans);
    if (!body) {
      return resultCallback({
        code: ExportResultCode.FAILED,
        error: new Error("spans could not be serialised"),
      });
    }
    // Transferred, not copied, when the bytes are the whole buffer (they are: a fresh TextEncoder result).
    const whole = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength;
    this.send(
      { kind: "export", id: ++this.lastId, batch: { body, spans: spans.length } },
      resultCallback,
      whole,
    );
  }

  /** Waits for the exports already handed to the worker. */
  forceFlush(): Promise<void> {
    return Promise.all([...this.pending.values()].map((entry) => entry.settled)).then(() => undefined);
  }

  /** Lets the worker finish its exports (the caller bounds how long), then stops it. */
  shutdown(): Promise<void> {
    if (this.failure) return Promise.resolve();
    return new Promise((resolve) =>
      this.send(
        { kind: "shutdown", id: ++this.lastId },
        () => void this.worker.terminate().finally(resolve),
        false,
      ),
    );
  }

  private send(request: ExportRequest, callback: (result: ExportResult) => void, transfer: boolean): void {
    let done!: () => void;
    const settled = new Promise<void>((resolve) => (done = resolve));
    this.pending.set(request.id, { callback, done, settled });
    const body = request.kind === "export" ? request.batch.body : undefined;
    this.worker.postMessage(request, transfer && body ? [body.buffer as ArrayBuffer] : []);
  }

  private settle(id: number, result: ExportResult): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    entry.callback(result);
    entry.done();
  }

  private fail(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    for (const id of [...this.pending.keys()]) this.settle(id, { code: ExportResultCode.FAILED, error });
  }
}
