import type { Queryable } from "../store/database.js";
import { HISTORY_COUNTS, type HistoryCounts, queueHistoryAdd } from "../store/queue-history.js";

const zero = (): HistoryCounts => ({ enqueued: 0, succeeded: 0, retried: 0, dead: 0, cancelled: 0 });

/**
 * One replica's share of the queue history (baton.queue_history), counted in memory where its
 * statements return rows (see JobMetrics) and added to the database by flush(): every few
 * seconds and at shutdown, one statement for all queues. Counting costs a job nothing in the
 * database; the price is that a replica that crashes loses what it counted since its last
 * flush (docs/OPERATIONS.md).
 */
export class HistoryCounter {
  private pending = new Map<string, HistoryCounts>();

  add(queue: string, key: keyof HistoryCounts, n = 1): void {
    let counts = this.pending.get(queue);
    if (!counts) this.pending.set(queue, (counts = zero()));
    counts[key] += n;
  }

  /**
   * Adds what was counted since the last flush to the database, at the database's current
   * minute. Counts that fail to reach it are kept for the next flush.
   */
  async flush(db: Queryable): Promise<void> {
    if (this.pending.size === 0) return;
    const taken = this.pending;
    this.pending = new Map();
    try {
      await queueHistoryAdd(db, taken);
    } catch (error) {
      for (const [queue, counts] of taken) for (const key of HISTORY_COUNTS) this.add(queue, key, counts[key]);
      throw error;
    }
  }
}
