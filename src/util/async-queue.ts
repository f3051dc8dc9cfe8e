/**
 * An unbounded single-consumer queue that an async generator can drain: producers push
 * synchronously, the consumer awaits. Bounding is the producer's business (worker streams
 * are bounded by credit).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((result: IteratorResult<T>) => void) | undefined;
  /** Producers waiting for the consumer to take items (see waitForRoom). */
  private roomWaiters: (() => void)[] = [];
  private ended = false;

  push(item: T): void {
    if (this.ended) return;
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** Resolves once at most `limit` items wait, or the queue ended: backpressure for producers. */
  async waitForRoom(limit: number): Promise<void> {
    while (this.items.length > limit && !this.ended) await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  private wakeProducers(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Ends the iteration once the queued items are consumed. */
  end(): void {
    this.ended = true;
    this.wakeProducers();
    if (this.waiting && this.items.length === 0) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve({ value: undefined, done: true });
    }
  }

  get size(): number {
    return this.items.length;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        if (this.items.length > 0) {
          const value = this.items.shift()!;
          if (this.roomWaiters.length > 0) this.wakeProducers();
          return Promise.resolve({ value, done: false });
        }
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => (this.waiting = resolve));
      },
      // A consumer that stops early (a closed connection) ends the queue for its producers.
      return: () => {
        this.end();
        this.items = [];
        return Promise.resolve({ value: undefined, done: true });
      },
      throw: (error?: unknown) => {
        this.end();
        this.items = [];
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      },
    };
  }
}
