import type { Queryable } from "./database.js";
import { loadStatements, param, row, run, statement } from "./statements.js";

const sql = loadStatements(new URL("./sql/access.sql", import.meta.url), {
  JobQueues: statement({ ids: param<string[]>() }, row<{ id: string; queue: string }>()),
  ScheduleQueue: statement({ name: param<string>() }, row<{ queue: string }>()),
  QueueDepths: statement({ queues: param<string[]>(), cap: param<number>() }, row<{ name: string; depth: number }>()),
});

/** The queue of each job of `ids` that exists, by id. */
export async function jobQueues(db: Queryable, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await run(db, sql.JobQueues, { ids });
  return new Map(rows.map((row) => [row.id, row.queue]));
}

/** The queue of schedule `name`, or undefined when there is no such schedule. */
export async function scheduleQueue(db: Queryable, name: string): Promise<string | undefined> {
  const { rows } = await run(db, sql.ScheduleQueue, { name });
  return rows[0]?.queue;
}

/** Jobs waiting to run in each of `queues`, each counted up to `cap` (so the cost is bounded). */
export async function queueDepths(db: Queryable, queues: string[], cap: number): Promise<Map<string, number>> {
  const { rows } = await run(db, sql.QueueDepths, { queues, cap });
  return new Map(rows.map((row) => [row.name, row.depth]));
}
