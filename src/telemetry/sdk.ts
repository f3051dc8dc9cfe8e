import type { Resource } from "@opentelemetry/resources";
import type { Logger } from "../util/log.js";
import type { TracingConfig } from "../config.js";
import { createTraceSampler } from "./job-sampling.js";
import { createOtlpSpanExporter } from "./otlp-exporter.js";
import { createTracingResource } from "./resource.js";

export interface TracingSdk {
  /** The resource of the RPC spans: give it to the span relay, so job spans carry the same. */
  resource: Resource;
  /** Flushes the spans still buffered and stops. */
  shutdown(): Promise<void>;
}

/**
 * Live tracing of the broker's own RPCs: starts the OpenTelemetry Node SDK, whose tracer the
 * RPC interceptor (src/server/tracing.ts) uses for one SERVER span per unary call. Its
 * exporter (protocol and endpoint), sampler and resource are built from the configuration as
 * the span relay's are, so RPC spans and job spans agree; the exporters read their headers,
 * timeouts and certificates from the OTEL_* variables themselves. Job spans do not go
 * through the SDK: they leave through the outbox relay, which survives a crash. Metrics and logs
 * stay with /metrics and the JSON log lines unless OTEL_METRICS_EXPORTER or
 * OTEL_LOGS_EXPORTER asks for them.
 *
 * Started only when an OTLP endpoint is configured; the SDK is imported then, not before.
 */
export async function startTracingSdk(config: TracingConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<TracingSdk | undefined> {
  if (!config.url) return undefined;
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const resource = createTracingResource(config);
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    sampler: createTraceSampler(config.sampler),
    traceExporter: await createOtlpSpanExporter(config.protocol, config.url),
    // No monkey-patching instrumentations: the interceptor knows the RPCs by name.
    instrumentations: [],
    ...(!env.OTEL_METRICS_EXPORTER && { metricReaders: [] }),
    ...(!env.OTEL_LOGS_EXPORTER && { logRecordProcessors: [] }),
  });
  sdk.start();
  log.info("live tracing of RPCs on", { serviceName: config.serviceName, protocol: config.protocol, sampler: config.sampler.name });
  return { resource, shutdown: () => sdk.shutdown() };
}
