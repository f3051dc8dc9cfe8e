/**
 * Messages waiting to go up a stream: the request side of a bidi call reads them as an async
 * iterable, in order, until end(). Unbounded: what fills it is bounded by its owner (a worker
 * by its concurrency, the enqueue stream by its calls in flight).
 */
export class Outgoing<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  private closed = false;

  push(item: T): void {
    if (this.closed) return;
    this.items.push(item);
    this.wake?.();
  }

  /** The stream's request side ends once what is queued has been read. */
  end(): void {
    this.closed = true;
    this.wake?.();
  }

  get ended(): boolean {
    return this.closed;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const batch = this.items;
        this.items = [];
        yield* batch;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
