import type { Queryable } from "./database.js";
import { type RowOf, loadStatements, param, row, run, statement } from "./statements.js";

const replica = param<string>();

const sql = loadStatements(new URL("./sql/telemetry.sql", import.meta.url), {
  SpanOutboxClaim: statement({ limit: param<number>() }, row<SpanRow>()),
  SpanOutboxDelete: statement({ ids: param<string[]>() }),
  SpanOutboxTrim: statement({ maxRows: param<number>() }, row<{ dropped: number }>()),
  SpanExporterSeen: statement({ replica }),
  SpanExporterForget: statement({ replica }),
  TelemetryGauges: statement({ staleSeconds: param<number>() }, row<GaugeRow>()),
});

/** A span of the outbox; ids are decimal strings, times microseconds since the epoch. */
export interface OutboxSpan {
  id: string;
  /** 32 lowercase hex digits. */
  traceId: string;
  /** send spans only: the parent, 16 lowercase hex digits; null for a root span. */
  parentSpanId: string | null;
  operation: "send" | "process" | "blocked";
  startUs: string;
  endUs: string;
  jobId: string;
  queue: string;
  chainId: string;
  parentJobId: string | null;
  attempt: number;
  run: number;
  /** process: succeeded, retried, dead or cancelled; blocked: available or cancelled. */
  outcome: string | null;
  error: string | null;
  replica: string | null;
  /** process: the worker that ended the attempt (hello.worker_id); null when none did. */
  workerId: string | null;
  readyUs: string | null;
  /** blocked: the blockers waited for. */
  links: OutboxSpanLink[] | null;
}

export interface OutboxSpanLink {
  traceId: string;
  spanId: string;
  jobId: string;
  state: string;
}

type SpanRow = RowOf<Omit<OutboxSpan, "links">> & { links: RowOf<OutboxSpanLink>[] | null };

const toOutboxSpan = (row: SpanRow): OutboxSpan => ({
  id: row.id,
  traceId: row.trace_id,
  parentSpanId: row.parent_span_id,
  operation: row.operation,
  startUs: row.start_us,
  endUs: row.end_us,
  jobId: row.job_id,
  queue: row.queue,
  chainId: row.chain_id,
  parentJobId: row.parent_job_id,
  attempt: row.attempt,
  run: row.run,
  outcome: row.outcome,
  error: row.error,
  replica: row.replica,
  workerId: row.worker_id,
  readyUs: row.ready_us,
  links: row.links && row.links.map((link) => ({ traceId: link.trace_id, spanId: link.span_id, jobId: link.job_id, state: link.state })),
});

/** Locks and returns the oldest spans no one else is exporting; call inside a transaction. */
export async function spanOutboxClaim(tx: Queryable, limit: number): Promise<OutboxSpan[]> {
  const { rows } = await run(tx, sql.SpanOutboxClaim, { limit });
  return rows.map(toOutboxSpan);
}

export async function spanOutboxDelete(tx: Queryable, ids: string[]): Promise<void> {
  await run(tx, sql.SpanOutboxDelete, { ids });
}

/** Drops the oldest spans beyond `maxRows`; returns how many went. */
export async function spanOutboxTrim(db: Queryable, maxRows: number): Promise<number> {
  const { rows } = await run(db, sql.SpanOutboxTrim, { maxRows });
  return rows[0]?.dropped ?? 0;
}

export async function spanExporterSeen(db: Queryable, replica: string): Promise<void> {
  await run(db, sql.SpanExporterSeen, { replica });
}

export async function spanExporterForget(db: Queryable, replica: string): Promise<void> {
  await run(db, sql.SpanExporterForget, { replica });
}

export interface GaugeRow {
  /**
   * jobs: per queue and state; oldest_available: per queue with due AVAILABLE jobs, the age in
   * seconds of the oldest; queue: a queue with settings (value 0); worker_streams: per queue;
   * span_outbox_rows: one value.
   */
  kind: "jobs" | "oldest_available" | "queue" | "worker_streams" | "span_outbox_rows";
  queue: string;
  state: string;
  value: number;
}

/** The gauges of /metrics; workers not heard from within `staleSeconds` are not counted. */
export async function telemetryGauges(db: Queryable, staleSeconds: number): Promise<GaugeRow[]> {
  const { rows } = await run(db, sql.TelemetryGauges, { staleSeconds });
  return rows;
}
