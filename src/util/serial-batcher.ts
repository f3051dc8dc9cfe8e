/**
 * Collects items and writes them in batches, one write in flight at a time: while a write
 * runs, the next batch grows. Under load this gives fewer, bigger statements instead of a pile
 * of small ones competing for connections (group commit); when idle, an item is written on the
 * next turn of the event loop.
 */
export class SerialBatcher<T> {
  private pending: T[] = [];
  private writing: Promise<void> | undefined;
  private scheduled = false;

  /** `write` answers its own failures: it must not reject. */
  constructor(private readonly write: (batch: T[]) => Promise<void>) {}

  add(item: T): void {
    this.pending.push(item);
    this.schedule();
  }

  /** Resolves once everything added so far is written. */
  async drain(): Promise<void> {
    while (this.scheduled || this.writing || this.pending.length > 0) {
      await (this.writing ?? new Promise((resolve) => setImmediate(resolve)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    // Coalesces every item of this turn of the event loop.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.writing = this.write(batch).finally(() => {
      this.writing = undefined;
      if (this.pending.length > 0) this.schedule();
    });
  }
}
