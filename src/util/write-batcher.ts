/**
 * Collects items and writes them in batches, at most `maxWrites` writes in flight: while they
 * run, the next batch grows. Under load this gives fewer, bigger statements instead of a pile
 * of small ones competing for connections (group commit); when idle, an item is written on the
 * next turn of the event loop. More than one write may run so that one stuck statement (a row
 * locked by someone else's long transaction) does not hold back every later batch.
 */
export class WriteBatcher<T> {
  private pending: T[] = [];
  private readonly writing = new Set<Promise<void>>();
  private scheduled = false;

  /** `write` answers its own failures: it must not reject. */
  constructor(
    private readonly write: (batch: T[]) => Promise<void>,
    private readonly maxWrites = 1,
  ) {}

  add(item: T): void {
    this.pending.push(item);
    this.schedule();
  }

  /** Resolves once everything added so far is written. */
  async drain(): Promise<void> {
    while (this.scheduled || this.writing.size > 0 || this.pending.length > 0) {
      await (this.writing.size > 0 ? Promise.race(this.writing) : new Promise((resolve) => setImmediate(resolve)));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing.size >= this.maxWrites) return;
    this.scheduled = true;
    // Coalesces every item of this turn of the event loop.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    if (this.pending.length === 0 || this.writing.size >= this.maxWrites) return;
    const batch = this.pending;
    this.pending = [];
    const write = this.write(batch).finally(() => {
      this.writing.delete(write);
      if (this.pending.length > 0) this.schedule();
    });
    this.writing.add(write);
  }
}
