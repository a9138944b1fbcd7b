import * as http from "node:http";
import type { AddressInfo } from "node:net";

/** A span as OTLP/JSON carries it (the fields the tests read). */
export interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  /** 2 is SERVER. */
  kind: number;
  attributes: Array<{ key: string; value: { stringValue?: string; intValue?: number | string } }>;
}

export interface OtlpReceiver {
  /** The base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it (spans are posted to <url>/v1/traces). */
  readonly url: string;
  /** Every span received, in order. */
  readonly spans: OtlpSpan[];
  /** `METHOD path content-type` of every request received. */
  readonly requests: string[];
  close(): Promise<void>;
}

/**
 * An OTLP/HTTP receiver (JSON encoding) on 127.0.0.1 that keeps every span posted to it and answers
 * `status` (200 unless told otherwise).
 */
export async function otlpReceiver(status = 200): Promise<OtlpReceiver> {
  const spans: OtlpSpan[] = [];
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      requests.push(`${req.method} ${req.url} ${req.headers["content-type"]}`);
      const payload = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        resourceSpans?: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
      };
      for (const rs of payload.resourceSpans ?? []) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(status, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A span attribute's value: the string, or the integer as a number; undefined when absent. */
export function spanAttribute(span: OtlpSpan, key: string): string | number | undefined {
  const value = span.attributes.find((a) => a.key === key)?.value;
  return value?.stringValue ?? (value?.intValue === undefined ? undefined : Number(value.intValue));
}
