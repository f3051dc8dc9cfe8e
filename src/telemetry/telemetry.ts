import type { TracingConfig } from "../config.js";
import { type Periodic, startPeriodic } from "../maintenance/periodic.js";
import type { Database } from "../store/database.js";
import { telemetryFoldCounters } from "../store/telemetry.js";
import type { Logger } from "./log.js";
import { type MetricsEndpoint, createMetricsEndpoint } from "./metrics.js";
import { type SpanRelay, startSpanRelay } from "./span-relay.js";

export interface Telemetry {
  metrics: MetricsEndpoint;
  /** Stops the relay (after one last pass) and the counter folding. */
  stop(): Promise<void>;
}

export interface TelemetryOptions {
  db: Database;
  log: Logger;
  replicaId: string;
  tracing: TracingConfig;
}

/** How often each replica folds the counter rows of ended database sessions. */
const FOLD_INTERVAL_MS = 60_000;

/**
 * The telemetry of one replica: /metrics, the span relay when an OTLP endpoint is configured,
 * and the folding of ended sessions' counter rows. Resolves once the relay is registered, so
 * the jobs of the first request after it already get spans.
 */
export async function startTelemetry({ db, log, replicaId, tracing }: TelemetryOptions): Promise<Telemetry> {
  const fold: Periodic = startPeriodic("metric counter folding", FOLD_INTERVAL_MS, 0.2, log, () => telemetryFoldCounters(db));
  let relay: SpanRelay | undefined;
  if (tracing.url) {
    try {
      relay = await startSpanRelay({
        db,
        log: log.child({ component: "span-relay" }),
        replicaId,
        url: tracing.url,
        serviceName: tracing.serviceName,
        intervalMs: tracing.relayIntervalMs,
        batchSize: tracing.relayBatchSize,
        maxRows: tracing.outboxMaxRows,
      });
    } catch (error) {
      await fold.stop();
      throw error;
    }
    log.info("exporting job spans", { url: tracing.url, serviceName: tracing.serviceName });
  }
  return {
    metrics: createMetricsEndpoint(db, log),
    async stop() {
      await relay?.stop();
      await fold.stop();
    },
  };
}
