import type { Queryable } from "./database.js";
import { loadQueries } from "./sql-file.js";

const sql = loadQueries<"JobQueue" | "ScheduleQueue" | "QueueDepths">(new URL("./sql/access.sql", import.meta.url));

/** The queue of job `id`, or undefined when there is no such job. */
export async function jobQueue(db: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await db.query<{ queue: string }>({ name: "JobQueue", text: sql.JobQueue, values: [id] });
  return rows[0]?.queue;
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
