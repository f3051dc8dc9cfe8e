import { BatonError } from "../errors.js";
import { queueDepths } from "../store/access.js";
import type { Database } from "../store/database.js";

/**
 * BATON_MAX_QUEUE_DEPTH: an enqueue (EnqueueJob, EnqueueJobs, a batch of EnqueueJobsStream) is
 * refused with RESOURCE_EXHAUSTED when it would leave more than `maxDepth` jobs waiting
 * (available, delayed or retrying) in a queue, so producers feel back-pressure instead of
 * filling the database. The count and the insert are separate statements, so concurrent
 * producers may overshoot by their batches: a guard rail, not an exact quota. Continuations of
 * an ack and cron jobs are not refused (the work that creates them is already done).
 */
export async function checkQueueDepth(db: Database, queues: readonly string[], maxDepth: number): Promise<void> {
  const adding = new Map<string, number>();
  for (const queue of queues) adding.set(queue, (adding.get(queue) ?? 0) + 1);
  const depths = await queueDepths(db, [...adding.keys()], maxDepth);
  for (const [queue, n] of adding) {
    const depth = depths.get(queue) ?? 0;
    if (depth + n > maxDepth) {
      throw new BatonError(
        "resource_exhausted",
        `queue "${queue}" has ${depth >= maxDepth ? `${maxDepth} or more` : depth} jobs waiting; ` +
          `${n === 1 ? "one more" : `${n} more`} would exceed its limit of ${maxDepth} (BATON_MAX_QUEUE_DEPTH)`,
      );
    }
  }
}
