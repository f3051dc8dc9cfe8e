import { createHash } from "node:crypto";
import { TraceFlags, context as otelContext, isSpanContextValid, trace } from "@opentelemetry/api";

/**
 * W3C trace context for jobs. The database derives span ids (migration 0005); these functions
 * compute the same ids where the broker needs them without a query: the traceparent a worker
 * receives with each delivery names the process span that the database writes when the
 * attempt ends.
 */

/** A parsed `traceparent`: 32 and 16 lowercase hex digits, and the sampled flag. */
export interface TraceParent {
  traceId: string;
  spanId: string;
  sampled: boolean;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-|$)/;

/** Parses a W3C traceparent as baton.jobs_trace_context() does; undefined when invalid. */
export function parseTraceparent(value: string | null | undefined): TraceParent | undefined {
  const match = value ? TRACEPARENT.exec(value) : null;
  if (!match || match[1] === "ff" || /^0+$/.test(match[2]!) || /^0+$/.test(match[3]!)) return undefined;
  return { traceId: match[2]!, spanId: match[3]!, sampled: (parseInt(match[4]!, 16) & TraceFlags.SAMPLED) !== 0 };
}

export function formatTraceparent({ traceId, spanId, sampled }: TraceParent): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

const md5 = (text: string) => createHash("md5").update(text).digest("hex");

/** baton.send_span_id: the job's `send` span. */
export function sendSpanId(jobId: string): string {
  return md5(`send:${jobId}`).slice(0, 16);
}

/** baton.process_span_id: one attempt's `process` span; `run` counts the failed attempts before it. */
export function processSpanId(jobId: string, attempt: number, run: number): string {
  return md5(`process:${jobId}:${attempt}:${run}`).slice(0, 16);
}

/** baton.blocked_span_id: the span of the time a job waited for its blockers. */
export function blockedSpanId(jobId: string): string {
  return md5(`blocked:${jobId}`).slice(0, 16);
}

/** What a job's trace context is derived from. */
export interface JobTraceColumns {
  id: string;
  chainId: string;
  attempt: number;
  errors: unknown[];
  /** A uuid; null on jobs created before tracing was added (migration 0005). */
  traceId: string | null;
  /** Whether the job's spans are recorded (migration 0010). */
  traceSampled: boolean;
}

/** baton.job_trace_id: the job's trace, 32 hex digits. */
export function jobTraceId(job: Pick<JobTraceColumns, "chainId" | "traceId">): string {
  return job.traceId ? job.traceId.replaceAll("-", "") : md5(`baton-trace:${job.chainId}`);
}

/**
 * The traceparent a worker receives with a leased job: its spans become children of this
 * attempt's `process` span, and are sampled when the job's trace is. Call with the row as
 * claimed (attempt already counted).
 */
export function deliveryTraceparent(job: JobTraceColumns): string {
  return formatTraceparent({
    traceId: jobTraceId(job),
    spanId: processSpanId(job.id, job.attempt, job.errors.length),
    sampled: job.traceSampled,
  });
}

/**
 * The producer's trace context for an enqueue: the broker's own RPC span when live tracing
 * runs (so `send` nests under it, sampled as the SDK's sampler decided for it), else the
 * request's `traceparent` header, else none. Its sampled flag decides whether the job's
 * trace is recorded (see baton.jobs_trace_context).
 */
export function producerTraceparent(header: Headers): string | undefined {
  const active = trace.getSpan(otelContext.active())?.spanContext();
  if (active && isSpanContextValid(active)) {
    return formatTraceparent({ traceId: active.traceId, spanId: active.spanId, sampled: (active.traceFlags & TraceFlags.SAMPLED) !== 0 });
  }
  const value = header.get("traceparent")?.trim().toLowerCase();
  // Only the 55 characters of version, trace id, span id and flags: a later version's extra
  // fields (or any tail a client adds) would go into the job's headers unchecked and unbounded.
  return parseTraceparent(value) ? value!.slice(0, 55) : undefined;
}

/**
 * Adds the producer's traceparent to jobs' headers, unless a job names its own: a header set
 * by the caller is the more specific context.
 */
export function withProducerTraceparent<J extends { headers: Record<string, string> }>(jobs: J[], header: Headers): J[] {
  const traceparent = producerTraceparent(header);
  if (!traceparent) return jobs;
  return jobs.map((job) => ("traceparent" in job.headers ? job : { ...job, headers: { ...job.headers, traceparent } }));
}
