import type { Queryable } from "./database.js";
import { loadStatements, param, row, run, statement } from "./statements.js";

const replica = param<string>();

const sql = loadStatements(new URL("./sql/telemetry.sql", import.meta.url), {
  SpanOutboxClaim: statement({ limit: param<number>() }, row<SpanRow>()),
  SpanOutboxDelete: statement({ ids: param<string[]>() }),
  SpanOutboxTrim: statement({ maxRows: param<number>() }, row<{ dropped: number }>()),
  SpanExporterSeen: statement({ replica }),
  SpanExporterForget: statement({ replica }),
  TelemetryGauges: statement({ staleSeconds: param<number>() }, row<GaugeRow>()),
});

/** What a span-outbox row says; ids are decimal strings, times microseconds since the epoch. */
export interface SpanRow {
  id: string;
  /** 32 lowercase hex digits. */
  trace_id: string;
  /** send spans only: the parent, 16 lowercase hex digits; null for a root span. */
  parent_span_id: string | null;
  operation: "send" | "process" | "blocked";
  start_us: string;
  end_us: string;
  job_id: string;
  queue: string;
  chain_id: string;
  parent_job_id: string | null;
  attempt: number;
  run: number;
  /** process: succeeded, retried, dead or cancelled; blocked: available or cancelled. */
  outcome: string | null;
  error: string | null;
  replica: string | null;
  ready_us: string | null;
  links: SpanLinkRow[] | null;
}

export interface SpanLinkRow {
  trace_id: string;
  span_id: string;
  job_id: string;
  state: string;
}

/** Locks and returns the oldest spans no one else is exporting; call inside a transaction. */
export async function spanOutboxClaim(tx: Queryable, limit: number): Promise<SpanRow[]> {
  const { rows } = await run(tx, sql.SpanOutboxClaim, { limit });
  return rows;
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
