import type { Database } from "../store/database.js";
import { fairnessBucketDeleteUnneeded } from "../store/fairness-buckets.js";
import { batchedTask } from "./batched-task.js";
import type { MaintenanceTask } from "./maintainer.js";

/**
 * Deletes the token buckets of fairness keys that have filled up again: claims write a row only
 * for a key that starts jobs, and a full bucket needs none, so without this the table would
 * grow with every tenant that ever ran. Safe on every replica (SKIP LOCKED).
 */
export function fairnessBucketTask(options: { db: Database; intervalMs: number; batchSize?: number }): MaintenanceTask {
  return batchedTask("fairness buckets", options.intervalMs, options.batchSize ?? 1000, (batchSize) =>
    fairnessBucketDeleteUnneeded(options.db, batchSize),
  );
}
