import { type Attributes, type HrTime, type Link, SpanKind, SpanStatusCode, TraceFlags } from "@opentelemetry/api";
import { type ExportResult, ExportResultCode } from "@opentelemetry/core";
import type { Resource } from "@opentelemetry/resources";
import type { ReadableSpan, SpanExporter, TimedEvent } from "@opentelemetry/sdk-trace-base";
import type { Database } from "../store/database.js";
import type { JobMetrics } from "./job-metrics.js";
import type { JobSampling } from "./job-sampling.js";
import { type OutboxSpan, spanExporterForget, spanExporterSeen, spanOutboxClaim, spanOutboxDelete, spanOutboxTrim } from "../store/telemetry.js";
import type { Logger } from "../util/log.js";
import { blockedSpanId, processSpanId, sendSpanId } from "./trace-context.js";

export interface SpanRelayOptions {
  db: Database;
  log: Logger;
  /** Names this replica in baton.span_exporters. */
  replicaId: string;
  /** Sends the spans: the OTLP exporter of the configured protocol (see otlp-exporter.ts). */
  exporter: SpanExporter;
  /** The resource of the exported spans, the same as the RPC spans'. */
  resource: Resource;
  /** Which traces are exported; spans of the others leave the outbox unsent. */
  sampling: JobSampling;
  /** Pause between passes when the outbox is empty. 1000 ms suits production. */
  intervalMs: number;
  /** Spans per export request. */
  batchSize: number;
  /** The outbox holds at most this many spans; the oldest beyond it are dropped and counted. */
  maxRows: number;
  /** Counts the spans this relay drops. */
  metrics: JobMetrics;
  /** Longest pause between attempts while the collector fails. */
  maxBackoffMs?: number;
}

export interface SpanRelay {
  /** Stops after the pass in progress and one last pass; the outbox keeps what was not exported. */
  stop(): Promise<void>;
}

/** How often a relay says it is alive; the triggers stop writing spans a minute after the last. */
const HEARTBEAT_MS = 10_000;

/**
 * Exports the span outbox: on every replica, a loop locks the oldest committed spans with
 * SKIP LOCKED (so replicas share the work and never send a span twice at once), exports them
 * over OTLP, and deletes them in the same transaction. A failed export rolls back, so the
 * spans stay and are retried with capped exponential backoff; a crash between the export and
 * the commit sends a batch again, with the same ids. Resolves once the triggers know this
 * replica exports, so spans of everything after it are written.
 */
export async function startSpanRelay(options: SpanRelayOptions): Promise<SpanRelay> {
  const { db, log } = options;
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  const { exporter, resource, sampling } = options;
  // Detectors may answer later (host.id is read from a file): every span carries the whole resource.
  await resource.waitForAsyncAttributes?.();
  await spanExporterSeen(db, options.replicaId);
  // On its own timer: a relay backing off from a failing collector still wants spans written.
  const heartbeat = setInterval(() => {
    spanExporterSeen(db, options.replicaId).catch((error: unknown) => log.warn("span exporter heartbeat failed", { error }));
  }, HEARTBEAT_MS);
  heartbeat.unref();

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let failures = 0;

  const pass = async (): Promise<number> => {
    const dropped = await spanOutboxTrim(db, options.maxRows);
    options.metrics.outboxSpansDropped(dropped);
    if (dropped > 0) log.warn("span outbox over its bound: dropped the oldest spans", { dropped, maxRows: options.maxRows });
    return db.transaction(async (tx) => {
      const rows = await spanOutboxClaim(tx, options.batchSize);
      if (rows.length === 0) return 0;
      const sampled = rows.filter((row) => sampling.sampled(row.traceId));
      if (sampled.length > 0) await exportSpans(exporter, sampled.map((row) => toReadableSpan(row, resource)));
      await spanOutboxDelete(tx, rows.map((row) => row.id));
      return rows.length;
    });
  };

  const loop = (async () => {
    while (!stopped) {
      let delay = options.intervalMs;
      try {
        const exported = await pass();
        if (failures > 0) log.info("span export recovered", { failedAttempts: failures });
        failures = 0;
        // A full batch suggests more waiting: go on at once.
        if (exported === options.batchSize) delay = 0;
      } catch (error) {
        failures++;
        delay = Math.min(maxBackoffMs, options.intervalMs * 2 ** Math.min(failures, 16)) * (0.5 + Math.random() / 2);
        // The first failure, then about one line a minute at the capped backoff.
        if (failures === 1 || failures % 10 === 0) {
          log.warn("span export failed; spans stay in the outbox", { error, failedAttempts: failures, retryInMs: Math.round(delay) });
        }
      }
      if (stopped) break;
      if (delay > 0) {
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, delay);
        });
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      clearInterval(heartbeat);
      clearTimeout(timer);
      wake?.();
      await loop;
      // Spans of the jobs settled while the broker drained: one more pass, unless the
      // collector is failing (another replica, or the next start, exports them).
      if (failures === 0) await pass().catch((error: unknown) => log.warn("last span export failed; spans stay in the outbox", { error }));
      await spanExporterForget(db, options.replicaId).catch((error: unknown) => log.warn("could not unregister the span exporter", { error }));
      await exporter.shutdown().catch(() => {});
    },
  };
}

function exportSpans(exporter: SpanExporter, spans: ReadableSpan[]): Promise<void> {
  return new Promise((resolve, reject) => {
    exporter.export(spans, (result: ExportResult) => {
      if (result.code === ExportResultCode.SUCCESS) resolve();
      else reject(result.error ?? new Error("span export failed"));
    });
  });
}

const microsToHrTime = (us: bigint): HrTime => [Number(us / 1_000_000n), Number(us % 1_000_000n) * 1000];

const scope = { name: "baton", version: "0.1.0" };

/**
 * A span-outbox row as an OpenTelemetry span, with the messaging semantic conventions:
 * `send <queue>` (PRODUCER), `process <queue>` (CONSUMER, linked to its send span, an error
 * with an exception event when the attempt failed) and `blocked <queue>` (INTERNAL, linked to
 * the blockers' last attempts).
 */
export function toReadableSpan(row: OutboxSpan, resource: Resource): ReadableSpan {
  const start = BigInt(row.startUs);
  const end = BigInt(row.endUs) < start ? start : BigInt(row.endUs);
  const attributes: Attributes = {
    "messaging.system": "baton",
    "messaging.destination.name": row.queue,
    "messaging.message.id": row.jobId,
    "baton.chain_id": row.chainId,
    ...(row.parentJobId !== null && { "baton.parent_id": row.parentJobId }),
  };
  const links: Link[] = [];
  const events: TimedEvent[] = [];
  let kind = SpanKind.INTERNAL;
  let failed = false;
  const failure = row.error ?? `attempt ended ${row.outcome}`;

  if (row.operation === "send") {
    kind = SpanKind.PRODUCER;
    Object.assign(attributes, { "messaging.operation.type": "send", "messaging.operation.name": "send" });
  } else if (row.operation === "process") {
    kind = SpanKind.CONSUMER;
    failed = row.outcome !== "succeeded";
    Object.assign(attributes, {
      "messaging.operation.type": "process",
      "messaging.operation.name": "process",
      "baton.attempt": row.attempt,
      "baton.outcome": row.outcome ?? "",
      ...(row.replica !== null && { "baton.replica": row.replica }),
      ...(row.workerId !== null && { "messaging.client.id": row.workerId }),
      ...(row.readyUs !== null && { "baton.queue_wait_seconds": Math.max(0, Number(start - BigInt(row.readyUs))) / 1e6 }),
    });
    links.push({ context: { traceId: row.traceId, spanId: sendSpanId(row.jobId), traceFlags: TraceFlags.SAMPLED } });
    if (failed) {
      attributes["error.type"] = `baton.attempt.${row.outcome}`;
      events.push({
        name: "exception",
        time: microsToHrTime(end),
        attributes: { "exception.type": attributes["error.type"], "exception.message": failure },
      });
    }
  } else {
    failed = row.outcome === "cancelled";
    const blockers = row.links ?? [];
    Object.assign(attributes, {
      "baton.outcome": row.outcome ?? "",
      "baton.depends_on": blockers.map((b) => b.jobId),
      ...(failed && { "error.type": "baton.blocked.cancelled" }),
    });
    for (const blocker of blockers) {
      links.push({
        context: { traceId: blocker.traceId.replaceAll("-", ""), spanId: blocker.spanId, traceFlags: TraceFlags.SAMPLED },
        attributes: { "baton.job_id": blocker.jobId, "baton.state": blocker.state },
      });
    }
  }

  // Ids as the database derives them (baton.send_span_id and friends): a send span's parent
  // is stored, the other spans hang under their job's send span.
  const spanId =
    row.operation === "send" ? sendSpanId(row.jobId) : row.operation === "process" ? processSpanId(row.jobId, row.attempt, row.run) : blockedSpanId(row.jobId);
  const parentSpanId = row.operation === "send" ? row.parentSpanId : sendSpanId(row.jobId);
  return {
    name: `${row.operation} ${row.queue}`,
    kind,
    spanContext: () => ({ traceId: row.traceId, spanId, traceFlags: TraceFlags.SAMPLED }),
    parentSpanContext: parentSpanId ? { traceId: row.traceId, spanId: parentSpanId, traceFlags: TraceFlags.SAMPLED, isRemote: true } : undefined,
    startTime: microsToHrTime(start),
    endTime: microsToHrTime(end),
    duration: microsToHrTime(end - start),
    status: failed ? { code: SpanStatusCode.ERROR, message: failure } : { code: SpanStatusCode.UNSET },
    attributes,
    links,
    events,
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}
