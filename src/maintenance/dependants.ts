import type { Database } from "../store/database.js";
import { jobRepairDependants } from "../store/jobs.js";
import type { Logger } from "../util/log.js";
import { batchedTask } from "./batched-task.js";
import type { MaintenanceTask } from "./maintainer.js";

export interface DependantRepairOptions {
  db: Database;
  log: Logger;
  intervalMs: number;
  /** Jobs per pass; the sweep loops until a pass comes back short. */
  batchSize?: number;
  /**
   * The queues of jobs the repair cancelled, once committed (for baton_finished). The jobs it
   * made AVAILABLE need nothing: the repair statement wakes their queues itself.
   */
  onCancelled(queues: Set<string>): void;
}

/**
 * Repairs BLOCKED jobs that have nothing left to wait for. The settle trigger unblocks a
 * dependant whatever the interleaving of its blockers' settlements (0007_dependants.sql), so
 * this finds only jobs stranded by releases before it, and dependants whose blocker was
 * deleted while they waited (they are cancelled with that reason). Safe on every replica: it
 * skips the dependants another transaction holds.
 */
export function dependantRepairTask(options: DependantRepairOptions): MaintenanceTask {
  return batchedTask("dependant repair", options.intervalMs, options.batchSize ?? 1000, async (batchSize) => {
    const repaired = await jobRepairDependants(options.db, batchSize);
    if (repaired.length > 0) {
      const cancelled = repaired.filter((job) => job.state === "cancelled");
      options.log.warn("repaired blocked jobs that had nothing left to wait for", {
        available: repaired.length - cancelled.length,
        cancelled: cancelled.length,
        firstIds: repaired.slice(0, 20).map((job) => job.id),
      });
      if (cancelled.length > 0) options.onCancelled(new Set(cancelled.map((job) => job.queue)));
    }
    return repaired.length;
  });
}
