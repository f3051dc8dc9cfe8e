import type { Queryable } from "./database.js";
import { loadStatements, param, row, run, statement } from "./statements.js";

const staleSeconds = param<number>();

const sql = loadStatements(new URL("./sql/workers.sql", import.meta.url), {
  WorkerUpsertMany: statement({
    sessionIds: param<string[]>(),
    workerIds: param<string[]>(),
    queues: param<string[]>(),
    labels: param<string[]>(),
    inFlights: param<number[]>(),
    maxInFlights: param<number[]>(),
    connectTimes: param<Date[]>(),
    lastSeenTimes: param<Date[]>(),
    replica: param<string>(),
    staleSeconds,
  }),
  WorkerDelete: statement({ sessionId: param<string>() }),
  WorkerList: statement({ queue: param<string | null>(), staleSeconds }, row<WorkerRow>()),
});

/** Rows of the worker registry older than this belong to a replica that died. */
export const WORKER_STALE_SECONDS = 60;

export interface WorkerRecord {
  sessionId: string;
  workerId: string;
  queues: string[];
  /** hello.labels. */
  labels: Record<string, string>;
  inFlight: number;
  maxInFlight: number;
  connectTime: Date;
  lastSeenTime: Date;
  replica: string;
}

interface WorkerRow {
  session_id: string;
  worker_id: string;
  queues: string[];
  labels: Record<string, string>;
  in_flight: number;
  max_in_flight: number;
  connect_time: Date;
  last_seen_time: Date;
  replica: string;
}

/** Writes this replica's streams and drops its closed ones and rows of silent replicas. */
export async function workerUpsertMany(db: Queryable, replica: string, workers: Omit<WorkerRecord, "replica">[], staleSeconds: number) {
  await run(db, sql.WorkerUpsertMany, {
    sessionIds: workers.map((w) => w.sessionId),
    workerIds: workers.map((w) => w.workerId),
    queues: workers.map((w) => JSON.stringify(w.queues)),
    labels: workers.map((w) => JSON.stringify(w.labels)),
    inFlights: workers.map((w) => w.inFlight),
    maxInFlights: workers.map((w) => w.maxInFlight),
    connectTimes: workers.map((w) => w.connectTime),
    lastSeenTimes: workers.map((w) => w.lastSeenTime),
    replica,
    staleSeconds,
  });
}

export async function workerDelete(db: Queryable, sessionId: string): Promise<void> {
  await run(db, sql.WorkerDelete, { sessionId });
}

export async function workerList(db: Queryable, queue: string | undefined, staleSeconds: number): Promise<WorkerRecord[]> {
  const { rows } = await run(db, sql.WorkerList, { queue: queue ?? null, staleSeconds });
  return rows.map((r) => ({
    sessionId: r.session_id,
    workerId: r.worker_id,
    queues: r.queues,
    labels: r.labels,
    inFlight: r.in_flight,
    maxInFlight: r.max_in_flight,
    connectTime: r.connect_time,
    lastSeenTime: r.last_seen_time,
    replica: r.replica,
  }));
}
