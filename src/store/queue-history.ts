import type { Queryable } from "./database.js";
import { type Now, type RowOf, loadStatements, param, row, run, runPlannedEachTime, statement } from "./statements.js";

/** What the history counts per queue and step. */
export interface HistoryCounts {
  /** Jobs created: enqueues, continuations, cron fires. */
  enqueued: number;
  succeeded: number;
  /** Failed attempts that went back to the queue for another try. */
  retried: number;
  dead: number;
  cancelled: number;
}

export const HISTORY_COUNTS: readonly (keyof HistoryCounts)[] = ["enqueued", "succeeded", "retried", "dead", "cancelled"];

export interface HistoryPoint extends HistoryCounts {
  startTime: Date;
}

const counts = param<number[]>();

const sql = loadStatements(new URL("./sql/queue_history.sql", import.meta.url), {
  QueueHistoryAdd: statement({ queues: param<string[]>(), enqueued: counts, succeeded: counts, retried: counts, dead: counts, cancelled: counts, now: param<Now>() }),
  QueueHistorySeries: statement(
    { queue: param<string | null>(), stepSeconds: param<number>(), points: param<number>(), now: param<Now>() },
    row<RowOf<{ startTime: Date } & Record<keyof HistoryCounts, string>>>(),
  ),
  QueueHistoryDeleteExpired: statement({ retentionSeconds: param<number>(), limit: param<number>(), now: param<Now>() }),
});

/** Adds counts per queue to the minute of `now`, in one statement whatever the number of queues. */
export async function queueHistoryAdd(db: Queryable, byQueue: ReadonlyMap<string, HistoryCounts>, now: Now = null): Promise<void> {
  if (byQueue.size === 0) return;
  const entries = [...byQueue];
  const column = (key: keyof HistoryCounts) => entries.map(([, c]) => c[key]);
  await run(db, sql.QueueHistoryAdd, {
    queues: entries.map(([queue]) => queue),
    enqueued: column("enqueued"),
    succeeded: column("succeeded"),
    retried: column("retried"),
    dead: column("dead"),
    cancelled: column("cancelled"),
    now,
  });
}

/**
 * `points` steps of `stepSeconds`, oldest first, ending with the step `now` falls in; `queue`
 * undefined sums every queue. Planned with its values each time (a read for dashboards, not a
 * hot path): a null queue folds away and the plan reads the bucket index, a named one reads
 * the primary key, which one generic plan for both could not.
 */
export async function queueHistorySeries(
  db: Queryable,
  options: { queue?: string; stepSeconds: number; points: number },
  now: Now = null,
): Promise<HistoryPoint[]> {
  const { rows } = await runPlannedEachTime(db, sql.QueueHistorySeries, { queue: options.queue ?? null, stepSeconds: options.stepSeconds, points: options.points, now });
  return rows.map((r) => ({
    startTime: r.start_time,
    enqueued: Number(r.enqueued),
    succeeded: Number(r.succeeded),
    retried: Number(r.retried),
    dead: Number(r.dead),
    cancelled: Number(r.cancelled),
  }));
}

/** Deletes up to `limit` rows older than `retentionSeconds`; returns how many. */
export async function queueHistoryDeleteExpired(db: Queryable, retentionSeconds: number, limit: number, now: Now = null): Promise<number> {
  const result = await run(db, sql.QueueHistoryDeleteExpired, { retentionSeconds, limit, now });
  return result.rowCount ?? 0;
}
