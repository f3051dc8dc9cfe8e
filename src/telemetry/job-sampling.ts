import { randomBytes } from "node:crypto";
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
import { formatTraceparent, parseTraceparent } from "./trace-context.js";

/** The sampler that OTEL_TRACES_SAMPLER names without its parentbased_ prefix. */
function rootSampler({ name, ratio }: TraceSamplerConfig): Sampler {
  if (name.endsWith("always_off")) return new AlwaysOffSampler();
  if (name.endsWith("traceidratio")) return new TraceIdRatioBasedSampler(ratio);
  return new AlwaysOnSampler();
}

/** The SDK's sampler for OTEL_TRACES_SAMPLER(_ARG); the RPC spans use this very one. */
export function createTraceSampler(config: TraceSamplerConfig): Sampler {
  return config.name.startsWith("parentbased_") ? new ParentBasedSampler({ root: rootSampler(config) }) : rootSampler(config);
}

/** Stands for a job's parent when asking the sampler: only its sampled flag matters. */
const SAMPLED_PARENT = trace.setSpanContext(ROOT_CONTEXT, {
  traceId: "00000000000000000000000000000001",
  spanId: "0000000000000001",
  traceFlags: TraceFlags.SAMPLED,
  isRemote: true,
});

const decide = (sampler: Sampler, context: typeof ROOT_CONTEXT, traceId: string) =>
  sampler.shouldSample(context, traceId, "job", SpanKind.PRODUCER, {}, []).decision === SamplingDecision.RECORD_AND_SAMPLED;

/**
 * The sampler's decisions for job spans, made as the SDK makes them for RPC spans. The
 * database keeps each job's parent flag (baton.jobs.trace_sampled: the producer's traceparent,
 * else the chain's) and writes no span for an unsampled trace, so a job whose spans exist has a
 * sampled parent: parentbased_* samplers keep it, and always_on, always_off and traceidratio
 * decide by the trace id, whatever the parent said. A trace that Baton starts itself (a job
 * with no producer) has no parent: under parentbased_*, the root sampler decides when the
 * broker creates the job (startTraces). Every decision depends on the trace id alone, so all
 * spans of a trace, on every replica, get the same one.
 */
export class JobSampling {
  private readonly sampler: Sampler;
  /** parentbased_* only: decides for the traces Baton starts. */
  private readonly root: Sampler | undefined;

  constructor(config: TraceSamplerConfig) {
    this.sampler = createTraceSampler(config);
    this.root = config.name.startsWith("parentbased_") && config.name !== "parentbased_always_on" ? rootSampler(config) : undefined;
  }

  /** Whether the spans of a trace that the database records are exported. */
  sampled(traceId: string): boolean {
    return decide(this.sampler, SAMPLED_PARENT, traceId);
  }

  /**
   * The traceparent a worker receives, unsampled when the job's spans are not exported, so
   * that the worker's own spans follow the same decision. An unsampled one stays so.
   */
  deliveryTraceparent(traceparent: string): string {
    const parsed = parseTraceparent(traceparent);
    if (!parsed?.sampled || this.sampled(parsed.traceId)) return traceparent;
    return formatTraceparent({ ...parsed, sampled: false });
  }

  /**
   * New jobs as the broker inserts them: under parentbased_always_off or
   * parentbased_traceidratio, a job that starts a trace (no traceparent, no chain or parent to
   * join) and that the root sampler drops gets an unsampled traceparent of a fresh trace, so
   * the database records nothing of it and its workers are told. A kept one is left to the
   * database, which starts a sampled trace as before.
   */
  startTraces<J extends { headers: Record<string, string>; chainId?: string; parentId?: string; dependsOnIndex?: number[] }>(jobs: J[]): J[] {
    const root = this.root;
    if (!root) return jobs;
    return jobs.map((job) => {
      // A job of a DAG joins the chain of a job of its batch (see jobInsertGraph).
      if ("traceparent" in job.headers || job.chainId !== undefined || job.parentId !== undefined || job.dependsOnIndex?.length) return job;
      const traceId = randomBytes(16).toString("hex");
      if (decide(root, ROOT_CONTEXT, traceId)) return job;
      const traceparent = formatTraceparent({ traceId, spanId: randomBytes(8).toString("hex"), sampled: false });
      return { ...job, headers: { ...job.headers, traceparent } };
    });
  }
}
