/**
 * Wraps `run` so that calls coalesce: while a run is under way, further calls share its promise
 * and ask for one more run after it, however many of them come. Every caller is answered by a
 * run that started after its call, and the work never runs twice at once nor more than once
 * behind. `run` should handle its own errors; the wrapper adds no retry.
 */
export function coalesced(run: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  return () => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await run();
      } while (again);
    })().finally(() => (running = undefined));
    return running;
  };
}
