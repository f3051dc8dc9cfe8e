/** Polls `condition` until it holds; tests wait on outcomes, never on fixed sleeps. */
export async function eventually(condition: () => Promise<boolean> | boolean, intervalMs = 25): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, intervalMs));
}
