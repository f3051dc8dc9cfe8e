/**
 * Runs `work` on the items of `source`, at most `limit` at once, and yields each result as it
 * finishes (so not necessarily in the order of the items). The next item is read only while
 * fewer than `limit` are being worked on: a source that produces faster than the work finishes
 * is held back (a request stream, by HTTP/2 flow control) instead of being buffered.
 *
 * Once `stop` aborts, nothing more is read (an item whose read was under way is dropped
 * unworked): the iteration ends when the work already started has been yielded, so that every
 * item read and not yielded was never worked on.
 *
 * A failed read ends the iteration with its error; work still running then finishes unobserved.
 * A failed work item ends it too, once its turn comes: `work` is expected to answer its own
 * failures.
 */
export async function* mapConcurrently<T, R>(
  source: AsyncIterable<T>,
  limit: number,
  work: (item: T) => Promise<R>,
  stop?: AbortSignal,
): AsyncGenerator<R> {
  type Finished = { key: number; outcome: { result: R } | { error: unknown } };
  const iterator = source[Symbol.asyncIterator]();
  const running = new Map<number, Promise<Finished>>();
  let reading: Promise<{ read: IteratorResult<T> } | { readError: unknown }> | undefined;
  let exhausted = false;
  let onStop = () => {};
  const stopped = new Promise<{ stopped: true }>((resolve) => (onStop = () => resolve({ stopped: true })));
  stop?.addEventListener("abort", onStop, { once: true });
  let nextKey = 0;
  try {
    while (!exhausted || running.size > 0) {
      if (stop?.aborted) exhausted = true;
      if (!exhausted && reading === undefined && running.size < limit) {
        // Settled either way: the generator may be suspended in a yield when the read fails.
        reading = iterator.next().then(
          (read) => ({ read }),
          (readError: unknown) => ({ readError }),
        );
      }
      const event = await Promise.race([...(reading && !exhausted ? [reading, stopped] : []), ...running.values()]);
      if ("stopped" in event) {
        exhausted = true;
        continue;
      }
      if ("readError" in event) throw event.readError;
      if ("read" in event) {
        reading = undefined;
        if (event.read.done || stop?.aborted) {
          exhausted = true;
          continue;
        }
        const key = nextKey++;
        running.set(
          key,
          work(event.read.value).then(
            (result) => ({ key, outcome: { result } }),
            (error: unknown) => ({ key, outcome: { error } }),
          ),
        );
      } else {
        running.delete(event.key);
        if ("error" in event.outcome) throw event.outcome.error;
        yield event.outcome.result;
      }
    }
  } finally {
    stop?.removeEventListener("abort", onStop);
  }
}
