import type { Logger } from "../util/log.js";
import type { TracingConfig } from "../config.js";

export interface TracingSdk {
  /** Flushes the spans still buffered and stops. */
  shutdown(): Promise<void>;
}

/**
 * Live tracing of the broker's own RPCs: starts the OpenTelemetry Node SDK, whose tracer the
 * RPC interceptor (src/server/tracing.ts) uses for one SERVER span per unary call. The SDK
 * reads the standard OTEL_* variables itself (exporter, protocol, headers, sampler, resource
 * attributes); service.name is OTEL_SERVICE_NAME, default "baton". Job spans do not go
 * through it: they leave through the outbox relay, which survives a crash. Metrics and logs
 * stay with /metrics and the JSON log lines unless OTEL_METRICS_EXPORTER or
 * OTEL_LOGS_EXPORTER asks for them.
 *
 * Started only when an OTLP endpoint is configured; the SDK is imported then, not before.
 */
export async function startTracingSdk(config: TracingConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<TracingSdk | undefined> {
  if (!config.url) return undefined;
  const [{ NodeSDK }, { resourceFromAttributes }] = await Promise.all([
    import("@opentelemetry/sdk-node"),
    import("@opentelemetry/resources"),
  ]);
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ "service.name": config.serviceName }),
    // No monkey-patching instrumentations: the interceptor knows the RPCs by name.
    instrumentations: [],
    ...(!env.OTEL_METRICS_EXPORTER && { metricReaders: [] }),
    ...(!env.OTEL_LOGS_EXPORTER && { logRecordProcessors: [] }),
  });
  sdk.start();
  log.info("live tracing of RPCs on", { serviceName: config.serviceName });
  return { shutdown: () => sdk.shutdown() };
}
