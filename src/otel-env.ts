/**
 * The standard OpenTelemetry variables that decide where and how spans go, read once for both
 * the SDK's RPC spans and the relay's job spans, so the two can never disagree. Values the
 * specification allows but Baton does not implement are refused at start-up with the list of
 * those it does: a silent fallback would export somewhere else than the operator meant.
 */

/** OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL. */
export const OTLP_PROTOCOLS = ["grpc", "http/protobuf", "http/json"] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];

/** OTEL_TRACES_SAMPLER: the specification's built-in samplers. */
export const TRACE_SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio",
] as const;
export type TraceSamplerName = (typeof TRACE_SAMPLERS)[number];

export interface TraceSamplerConfig {
  name: TraceSamplerName;
  /** OTEL_TRACES_SAMPLER_ARG for the ratio samplers: the share of root traces kept, 0 to 1. */
  ratio: number;
}

/** OTEL_NODE_RESOURCE_DETECTORS, as the Node SDK names its detectors. */
export const RESOURCE_DETECTORS = ["env", "host", "os", "process", "serviceinstance"] as const;
export type ResourceDetectorName = (typeof RESOURCE_DETECTORS)[number];

export interface OtlpTarget {
  /** The traces endpoint: a URL ending in /v1/traces over HTTP, the collector's address over gRPC. */
  url: string;
  protocol: OtlpProtocol;
}

const value = (env: NodeJS.ProcessEnv, name: string) => env[name]?.trim() || undefined;

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  const found = allowed.find((candidate) => candidate === raw.toLowerCase());
  if (!found) throw new Error(`${name} must be one of ${allowed.join(", ")}; got "${raw}"`);
  return found;
}

/**
 * Where traces go; undefined when tracing is off (no endpoint, OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none). The protocol defaults to http/protobuf, as the specification
 * says; a signal-specific variable wins over the general one.
 */
export function otlpTarget(env: NodeJS.ProcessEnv): OtlpTarget | undefined {
  const protocolVariable = value(env, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") ? "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" : "OTEL_EXPORTER_OTLP_PROTOCOL";
  const rawProtocol = value(env, protocolVariable);
  // Validated even when tracing is off, so a typo shows before the endpoint is set.
  const protocol = rawProtocol ? oneOf(protocolVariable, rawProtocol, OTLP_PROTOCOLS) : "http/protobuf";
  if (value(env, "OTEL_SDK_DISABLED")?.toLowerCase() === "true") return undefined;
  const exporters = value(env, "OTEL_TRACES_EXPORTER")?.split(",").map((name) => name.trim().toLowerCase());
  if (exporters?.includes("none")) return undefined;
  if (exporters && !exporters.every((name) => name === "otlp")) {
    throw new Error(`OTEL_TRACES_EXPORTER must be otlp or none; got "${env.OTEL_TRACES_EXPORTER}"`);
  }
  const traces = value(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
  if (traces) return { url: traces, protocol };
  const base = value(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
  if (!base) return undefined;
  // Over HTTP the general endpoint is a base the signal's path is appended to; gRPC has no paths.
  return { url: protocol === "grpc" ? base : `${base.replace(/\/+$/, "")}/v1/traces`, protocol };
}

/** OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG; parentbased_always_on by default. */
export function traceSamplerConfig(env: NodeJS.ProcessEnv): TraceSamplerConfig {
  const rawName = value(env, "OTEL_TRACES_SAMPLER");
  const name = rawName ? oneOf("OTEL_TRACES_SAMPLER", rawName, TRACE_SAMPLERS) : "parentbased_always_on";
  const rawArg = value(env, "OTEL_TRACES_SAMPLER_ARG");
  if (!name.endsWith("traceidratio") || rawArg === undefined) return { name, ratio: 1 };
  const ratio = Number(rawArg);
  if (!Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
    throw new Error(`OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1 for ${name}; got "${rawArg}"`);
  }
  return { name, ratio };
}

/** OTEL_NODE_RESOURCE_DETECTORS: all of them by default, as the Node SDK does; "none" for none. */
export function resourceDetectorNames(env: NodeJS.ProcessEnv): ResourceDetectorName[] {
  const names = value(env, "OTEL_NODE_RESOURCE_DETECTORS")?.split(",").map((name) => name.trim().toLowerCase()).filter(Boolean) ?? ["all"];
  if (names.includes("all")) return [...RESOURCE_DETECTORS];
  if (names.includes("none")) return [];
  return names.map((name) => oneOf("OTEL_NODE_RESOURCE_DETECTORS", name, RESOURCE_DETECTORS));
}

/**
 * service.name: OTEL_SERVICE_NAME, else a service.name in OTEL_RESOURCE_ATTRIBUTES (the
 * specification's order), else "baton".
 */
export function serviceName(env: NodeJS.ProcessEnv): string {
  const fromAttributes = value(env, "OTEL_RESOURCE_ATTRIBUTES")
    ?.split(",")
    .map((pair) => pair.split("="))
    .find(([key]) => key?.trim() === "service.name")?.[1];
  return value(env, "OTEL_SERVICE_NAME") ?? (fromAttributes ? decodeURIComponent(fromAttributes.trim()) : "baton");
}
