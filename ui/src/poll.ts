// Live updates: each view re-fetches on an interval (no reloads, no push channel needed).
import { useCallback, useEffect, useRef, useState } from "preact/hooks";

/** How often views refresh. */
export const POLL_MS = 1500;

export interface Polled<T> {
  data: T | undefined;
  error: unknown;
  /** Fetches now (after an action) instead of waiting for the next tick. */
  refresh: () => void;
}

/**
 * Calls `load` now and every `intervalMs` while the page is visible, again whenever `deps`
 * change (dropping answers to stale requests). Errors are kept next to the last good data,
 * so a broker restart shows a banner rather than an empty page.
 */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[], intervalMs = POLL_MS): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  // New filters: forget the data of the old ones at once.
  useEffect(() => setData(undefined), deps);

  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight = false;
    const run = async () => {
      timer = undefined;
      if (document.hidden || inFlight) return; // a hidden page resumes on visibilitychange
      inFlight = true;
      try {
        const value = await loadRef.current(controller.signal);
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
      } catch (e) {
        if (controller.signal.aborted) return;
        setError(e);
      } finally {
        inFlight = false;
      }
      timer = setTimeout(() => void run(), intervalMs);
    };
    const onVisibility = () => {
      if (!document.hidden && timer === undefined && !inFlight) void run();
    };
    document.addEventListener("visibilitychange", onVisibility);
    void run();
    return () => {
      controller.abort();
      if (timer !== undefined) clearTimeout(timer);
      document.removeEventListener("visibilitychange", onVisibility);
    };
  }, [...deps, tick, intervalMs]);

  const refresh = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, refresh };
}
