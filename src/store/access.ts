import type { Queryable } from "./database.js";
import { loadQueries } from "./sql-file.js";

const sql = loadQueries<"JobQueues" | "ScheduleQueue" | "QueueDepths">(new URL("./sql/access.sql", import.meta.url));

/** The queue of each job of `ids` that exists, by id. */
export async function jobQueues(db: Queryable, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; queue: string }>({ name: "JobQueues", text: sql.JobQueues, values: [ids] });
  return new Map(rows.map((row) => [row.id, row.queue]));
}

/** The queue of schedule `name`, or undefined when there is no such schedule. */
export async function scheduleQueue(db: Queryable, name: string): Promise<string | undefined> {
  const { rows } = await db.query<{ queue: string }>({ name: "ScheduleQueue", text: sql.ScheduleQueue, values: [name] });
  return rows[0]?.queue;
}

/** Jobs waiting to run in each of `queues`, each counted up to `cap` (so the cost is bounded). */
export async function queueDepths(db: Queryable, queues: string[], cap: number): Promise<Map<string, number>> {
  const { rows } = await db.query<{ name: string; depth: number }>({ name: "QueueDepths", text: sql.QueueDepths, values: [queues, cap] });
  return new Map(rows.map((row) => [row.name, row.depth]));
}
