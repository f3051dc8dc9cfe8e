import type { Database } from "../store/database.js";
import { type RetryPolicy, jobFailMany, jobFindExpired } from "../store/jobs.js";
import type { JobMetrics } from "../telemetry/job-metrics.js";
import type { Logger } from "../util/log.js";
import { batchedTask } from "./batched-task.js";
import type { MaintenanceTask } from "./maintainer.js";

export interface ReaperOptions {
  db: Database;
  log: Logger;
  intervalMs: number;
  retryPolicy: RetryPolicy;
  /** Rows per pass; the reaper loops until a pass comes back short. */
  batchSize?: number;
  metrics: JobMetrics;
  /** Queues of the settled jobs (some re-queued, some finished), once committed. */
  onSettled(queues: string[]): void;
}

/**
 * Settles leases that ended by database time: their replica crashed, lost the database for
 * longer than a lease, or the attempt passed its timeout. Each counts as a failed attempt.
 * Runs on every replica; the settlement is fenced by lease token, so two reapers (or a late
 * ack) never both win.
 */
export function reaperTask(options: ReaperOptions): MaintenanceTask {
  return batchedTask("reaper", options.intervalMs, options.batchSize ?? 1000, async (batchSize) => {
    const expired = await jobFindExpired(options.db, batchSize);
    if (expired.length === 0) return 0;
    const outcomes = await jobFailMany(
      options.db,
      expired.map((lease) => ({
        ...lease,
        error: lease.timedOut ? "attempt timed out" : "lease expired",
        // A dead replica is no fault of the job: retry at once. A timeout backs off.
        retryDelaySeconds: lease.timedOut ? undefined : 0,
        deadLetter: false,
      })),
      options.retryPolicy,
    );
    options.metrics.failed(outcomes);
    options.log.info("settled expired leases", { jobs: outcomes.length });
    options.onSettled(outcomes.map((o) => o.queue));
    return expired.length;
  });
}
