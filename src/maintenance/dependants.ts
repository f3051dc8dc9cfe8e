import type { Database } from "../store/database.js";
import { type RepairedDependant, jobRepairDependants } from "../store/jobs.js";
import type { Logger } from "../telemetry/log.js";
import { type Periodic, startPeriodic } from "./periodic.js";

export interface DependantRepairOptions {
  db: Database;
  log: Logger;
  intervalMs: number;
  /** Jobs per pass; the sweep loops until a pass comes back short. */
  batchSize?: number;
  /** The repaired jobs, once committed: some AVAILABLE (wake their queues), some CANCELLED. */
  onRepaired(jobs: RepairedDependant[]): void;
}

/**
 * Repairs BLOCKED jobs that have nothing left to wait for. The settle trigger unblocks a
 * dependant whatever the interleaving of its blockers' settlements (0007_dependants.sql), so
 * this finds only jobs stranded by releases before it, and dependants whose blocker was
 * deleted while they waited (they are cancelled with that reason). Safe on every replica: it
 * skips the dependants another transaction holds.
 */
export function startDependantRepair(options: DependantRepairOptions): Periodic {
  const batchSize = options.batchSize ?? 1000;
  return startPeriodic("dependant repair", options.intervalMs, 0.2, options.log, async () => {
    for (;;) {
      const repaired = await jobRepairDependants(options.db, batchSize);
      if (repaired.length > 0) {
        options.log.warn("repaired blocked jobs that had nothing left to wait for", {
          available: repaired.filter((job) => job.state === "available").length,
          cancelled: repaired.filter((job) => job.state === "cancelled").length,
          firstIds: repaired.slice(0, 20).map((job) => job.id),
        });
        options.onRepaired(repaired);
      }
      if (repaired.length < batchSize) return;
    }
  });
}
