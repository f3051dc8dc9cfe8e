import type { Database } from "../store/database.js";
import { queueHistoryDeleteExpired } from "../store/queue-history.js";
import { batchedTask } from "./batched-task.js";
import type { MaintenanceTask } from "./maintainer.js";

export interface HistoryRetentionOptions {
  db: Database;
  intervalMs: number;
  /** How long each minute of the history is kept. */
  retentionSeconds: number;
  batchSize?: number;
}

/** Deletes the queue history's minutes older than its retention, in batches. Safe on every replica. */
export function historyRetentionTask(options: HistoryRetentionOptions): MaintenanceTask {
  return batchedTask("history retention", options.intervalMs, options.batchSize ?? 5000, (batchSize) =>
    queueHistoryDeleteExpired(options.db, options.retentionSeconds, batchSize),
  );
}
