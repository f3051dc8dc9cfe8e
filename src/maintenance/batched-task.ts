import type { MaintenanceTask } from "./maintainer.js";

/**
 * A maintenance task that works through its backlog in batches of `batchSize`, each its own
 * short statement or transaction so that none holds many locks or runs long, and goes on until
 * a batch comes back short: a backlog is cleared in one run, not one batch per interval.
 * `batch` handles up to `batchSize` rows and says how many it took; `ran` hears how many the
 * whole run took.
 */
export function batchedTask(
  name: string,
  intervalMs: number,
  batchSize: number,
  batch: (batchSize: number) => Promise<number>,
  ran?: (total: number) => void,
): MaintenanceTask {
  return {
    name,
    intervalMs,
    async run() {
      let total = 0;
      for (;;) {
        const taken = await batch(batchSize);
        total += taken;
        if (taken < batchSize) break;
      }
      ran?.(total);
    },
  };
}
