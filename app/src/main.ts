import { pino } from "pino";
import { loadConfig } from "./config";
import { startTracing } from "./tracing";

/**
 * Starts the service. On SIGTERM or SIGINT: /readyz turns 503 at once, the listener stays open for
 * DRAIN_DELAY_MS so load balancers notice, then stops accepting; in-flight requests finish, the process
 * exits 0. If all that takes longer than SHUTDOWN_TIMEOUT_MS (counted from the signal) it exits 1.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  // Before the server is built: traceRequests adds its hook only when the SDK is running.
  const tracing = startTracing(config);
  const { buildServer } = await import("./server");
  const server = buildServer(config);
  const { app } = server;

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    server.startDraining();
    app.log.info({ signal, drainDelayMs: config.drainDelayMs }, "draining");
    const deadline = setTimeout(() => {
      app.log.error({ shutdownTimeoutMs: config.shutdownTimeoutMs }, "shutdown timed out");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    deadline.unref();
    setTimeout(() => {
      // close() stops accepting, waits for in-flight requests, and closes idle keep-alive connections.
      app.log.info("closing the listener");
      app.close().then(
        async () => {
          // Whatever spans are still buffered go out before the process ends.
          await tracing?.shutdown().catch((err: unknown) => app.log.warn({ err }, "trace flush failed"));
          app.log.info("stopped");
          process.exit(0);
        },
        (err: unknown) => {
          app.log.error({ err }, "shutdown failed");
          process.exit(1);
        },
      );
    }, config.drainDelayMs);
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  await app.listen({ port: config.port, host: config.host });
}

main().catch((err: unknown) => {
  // Bad configuration or a port that cannot be bound: one JSON line (pino writes synchronously), exit 1.
  pino({ timestamp: pino.stdTimeFunctions.isoTime }).fatal({ err }, "start-up failed");
  process.exit(1);
});
