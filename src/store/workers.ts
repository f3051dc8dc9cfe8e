import type { Queryable } from "./database.js";
import { loadQueries } from "./sql-file.js";

const sql = loadQueries<"WorkerUpsertMany" | "WorkerDelete" | "WorkerList">(new URL("./sql/workers.sql", import.meta.url));

/** Rows of the worker registry older than this belong to a replica that died. */
export const WORKER_STALE_SECONDS = 60;

export interface WorkerRecord {
  sessionId: string;
  workerId: string;
  queues: string[];
  inFlight: number;
  maxInFlight: number;
  connectTime: Date;
  lastSeenTime: Date;
  replica: string;
}

/** Writes this replica's streams and drops its closed ones and rows of silent replicas. */
export async function workerUpsertMany(db: Queryable, replica: string, workers: Omit<WorkerRecord, "replica">[], staleSeconds: number) {
  await db.query({
    name: "WorkerUpsertMany",
    text: sql.WorkerUpsertMany,
    values: [
      workers.map((w) => w.sessionId),
      workers.map((w) => w.workerId),
      workers.map((w) => JSON.stringify(w.queues)),
      workers.map((w) => w.inFlight),
      workers.map((w) => w.maxInFlight),
      workers.map((w) => w.connectTime),
      workers.map((w) => w.lastSeenTime),
      replica,
      staleSeconds,
    ],
  });
}

export async function workerDelete(db: Queryable, sessionId: string): Promise<void> {
  await db.query({ name: "WorkerDelete", text: sql.WorkerDelete, values: [sessionId] });
}

export async function workerList(db: Queryable, queue: string | undefined, staleSeconds: number): Promise<WorkerRecord[]> {
  const { rows } = await db.query<{
    session_id: string;
    worker_id: string;
    queues: string[];
    in_flight: number;
    max_in_flight: number;
    connect_time: Date;
    last_seen_time: Date;
    replica: string;
  }>({ name: "WorkerList", text: sql.WorkerList, values: [queue ?? null, staleSeconds] });
  return rows.map((r) => ({
    sessionId: r.session_id,
    workerId: r.worker_id,
    queues: r.queues,
    inFlight: r.in_flight,
    maxInFlight: r.max_in_flight,
    connectTime: r.connect_time,
    lastSeenTime: r.last_seen_time,
    replica: r.replica,
  }));
}
