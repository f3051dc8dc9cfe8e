import type { SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { OtlpProtocol } from "../otel-env.js";

/**
 * The OpenTelemetry exporter for a protocol. The SDK's RPC spans and the relay's job spans
 * each get one, so both reach the collector by the same door; headers, timeouts, compression
 * and certificates come from the exporters' own OTEL_EXPORTER_OTLP_* variables. Only the
 * chosen exporter is loaded (the gRPC one brings a whole gRPC stack).
 */
export async function createOtlpSpanExporter(protocol: OtlpProtocol, url: string): Promise<SpanExporter> {
  switch (protocol) {
    case "grpc":
      return new (await import("@opentelemetry/exporter-trace-otlp-grpc")).OTLPTraceExporter({ url });
    case "http/protobuf":
      return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter({ url });
    case "http/json":
      return new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter({ url });
  }
}
