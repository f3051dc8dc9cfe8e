export interface EventuallyOptions {
  /** How long the condition may take to hold before the test fails; default 20 s. */
  timeoutMs?: number;
  /** What is awaited, for the failure message ("job 7 to be SUCCEEDED"). */
  what?: string;
  /** Poll interval; default 25 ms. */
  intervalMs?: number;
}

/**
 * Polls `condition` until it holds; tests wait on outcomes, never on fixed sleeps. Fails with
 * `what` once the deadline passes, so a condition that never comes true is a clear failure
 * rather than a test timeout.
 */
export async function eventually(
  condition: () => Promise<boolean> | boolean,
  { timeoutMs = 20_000, what = "condition", intervalMs = 25 }: EventuallyOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
