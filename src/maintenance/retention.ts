import type { Database } from "../store/database.js";
import { type Retention, jobDeleteExpired } from "../store/jobs.js";
import type { Logger } from "../util/log.js";
import { batchedTask } from "./batched-task.js";
import type { MaintenanceTask } from "./maintainer.js";

export interface RetentionOptions {
  db: Database;
  log: Logger;
  intervalMs: number;
  /** Defaults for queues that set none. */
  retention: Retention;
  batchSize?: number;
}

/**
 * Deletes finished jobs past their queue's retention, in batches so no statement holds many
 * locks or runs long, and keeps the live table small. Safe on every replica (SKIP LOCKED).
 */
export function retentionTask(options: RetentionOptions): MaintenanceTask {
  return batchedTask(
    "retention",
    options.intervalMs,
    options.batchSize ?? 1000,
    (batchSize) => jobDeleteExpired(options.db, batchSize, options.retention),
    (total) => {
      if (total > 0) options.log.info("deleted finished jobs past retention", { jobs: total });
    },
  );
}
