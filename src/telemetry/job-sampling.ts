import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from "@opentelemetry/api";
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import type { TraceSamplerConfig } from "../otel-env.js";
import { formatTraceparent, jobTraceId, parseTraceparent } from "./trace-context.js";

/** The SDK's sampler for OTEL_TRACES_SAMPLER(_ARG); the RPC spans use this very one. */
export function createTraceSampler({ name, ratio }: TraceSamplerConfig): Sampler {
  const root = name.endsWith("always_off") ? new AlwaysOffSampler() : name.endsWith("traceidratio") ? new TraceIdRatioBasedSampler(ratio) : new AlwaysOnSampler();
  return name.startsWith("parentbased_") ? new ParentBasedSampler({ root }) : root;
}

/** Stands for the producer's span when asking a sampler about a job: only its flags matter. */
const PARENT_SPAN_ID = "0000000000000001";

/**
 * The sampler's decision for job spans, made as the SDK makes it for a span: a job's trace
 * has a parent when a producer's traceparent started it (the broker's own RPC span included),
 * and none when Baton made the trace up from the chain's id. The database already keeps the
 * parent's flag (baton.jobs.trace_sampled) and writes no spans for an unsampled trace; this
 * adds the sampler, so that OTEL_TRACES_SAMPLER=always_off, traceidratio and the
 * parentbased_* roots apply to job spans as they do to RPC spans. Every decision depends on
 * the trace id alone, so all spans of a trace, on every replica, get the same one.
 */
export class JobSampling {
  constructor(private readonly sampler: Sampler) {}

  /** Whether the spans of a job whose trace the database records are exported. */
  sampled(traceId: string, chainId: string): boolean {
    const root = traceId === jobTraceId({ chain_id: chainId, trace_id: null });
    const context = root
      ? ROOT_CONTEXT
      : trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: PARENT_SPAN_ID, traceFlags: TraceFlags.SAMPLED, isRemote: true });
    return this.sampler.shouldSample(context, traceId, "job", SpanKind.INTERNAL, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;
  }

  /**
   * The traceparent a worker receives, unsampled when the job's spans are not exported, so
   * that the worker's own spans follow the same decision. An unsampled one stays so.
   */
  deliveryTraceparent(traceparent: string, chainId: string): string {
    const parsed = parseTraceparent(traceparent);
    if (!parsed?.sampled || this.sampled(parsed.traceId, chainId)) return traceparent;
    return formatTraceparent({ ...parsed, sampled: false });
  }
}
