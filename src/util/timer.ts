/** The longest delay setTimeout honours: Node fires a longer one after 1 ms instead. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * setTimeout for a delay that may be far off (a job due in a month, a 30-day timeout): past
 * 24.8 days the timer fires early and its handler, which re-arms from the real due time, simply
 * looks again. Negative delays fire at once.
 */
export function setCappedTimeout(callback: () => void, delayMs: number): NodeJS.Timeout {
  return setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
}
