import type { Database } from "../store/database.js";
import { jobReapExpired } from "../store/jobs.js";
import type { Logger } from "../telemetry/log.js";
import { type Periodic, startPeriodic } from "./periodic.js";

export interface ReaperOptions {
  db: Database;
  log: Logger;
  intervalMs: number;
  /** Rows per statement; the reaper loops until a batch comes back short. */
  batchSize?: number;
  onRequeued(queues: string[]): void;
}

/**
 * Re-queues jobs whose lease expired by database time: their replica crashed or lost the
 * database for longer than a lease. Runs on every replica; SKIP LOCKED keeps them apart.
 */
export function startReaper(options: ReaperOptions): Periodic {
  const batchSize = options.batchSize ?? 1000;
  return startPeriodic("reaper", options.intervalMs, 0.2, options.log, async () => {
    for (;;) {
      const queues = await jobReapExpired(options.db, batchSize);
      if (queues.length > 0) {
        options.log.info("re-queued expired leases", { jobs: queues.length });
        options.onRequeued(queues);
      }
      if (queues.length < batchSize) return;
    }
  });
}
