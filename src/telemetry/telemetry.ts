import type { Resource } from "@opentelemetry/resources";
import type { TracingConfig } from "../config.js";
import { ClusterGauges } from "./cluster-gauges.js";
import type { Database } from "../store/database.js";
import type { JobMetrics } from "./job-metrics.js";
import type { Logger } from "../util/log.js";
import type { JobSampling } from "./job-sampling.js";
import { type MetricSource, type MetricsEndpoint, createMetricsEndpoint } from "./metrics.js";
import { createOtlpSpanExporter } from "./otlp-exporter.js";
import { createTracingResource } from "./resource.js";
import { type SpanRelay, startSpanRelay } from "./span-relay.js";

export interface Telemetry {
  metrics: MetricsEndpoint;
  /** Stops the relay, after one last pass. */
  stop(): Promise<void>;
}

export interface TelemetryOptions {
  db: Database;
  log: Logger;
  replicaId: string;
  tracing: TracingConfig;
  /** Which job traces are exported (the broker's deliveries follow the same); set when tracing is on. */
  sampling: JobSampling | undefined;
  /** The RPC spans' resource, for the job spans too; detected here when there is none. */
  resource?: Resource;
  /** This replica's counters and histograms, kept by the broker. */
  jobMetrics: JobMetrics;
  /** Other metrics this replica keeps in memory (RPCs, its pool and streams, its background tasks). */
  metricSources?: readonly MetricSource[];
}

/**
 * The telemetry of one replica: /metrics, and the span relay when an OTLP endpoint is
 * configured. Resolves once the relay is registered, so the jobs of the first request after it
 * already get spans.
 */
export async function startTelemetry(options: TelemetryOptions): Promise<Telemetry> {
  const { db, log, replicaId, tracing, jobMetrics, metricSources = [] } = options;
  let relay: SpanRelay | undefined;
  if (tracing.url && options.sampling) {
    relay = await startSpanRelay({
      db,
      log: log.child({ component: "span-relay" }),
      replicaId,
      exporter: await createOtlpSpanExporter(tracing.protocol, tracing.url),
      resource: options.resource ?? createTracingResource(tracing),
      sampling: options.sampling,
      intervalMs: tracing.relayIntervalMs,
      batchSize: tracing.relayBatchSize,
      maxRows: tracing.outboxMaxRows,
      metrics: jobMetrics,
    });
    log.info("exporting job spans", { url: tracing.url, protocol: tracing.protocol, sampler: tracing.sampler.name, serviceName: tracing.serviceName });
  }
  return {
    metrics: createMetricsEndpoint(new ClusterGauges(db), [jobMetrics, ...metricSources], log),
    async stop() {
      await relay?.stop();
    },
  };
}
