/**
 * Runs the real `baton serve` (src/cli/main.ts, unchanged) in this process, configured by the
 * environment the bench gives it. The only addition: when the bench process goes away (its IPC
 * channel closes, even if it was killed), the broker shuts down instead of living on.
 */
process.on("disconnect", () => {
  process.kill(process.pid, "SIGTERM");
  setTimeout(() => process.exit(1), 15_000).unref();
});
process.argv = [process.argv[0]!, process.argv[1]!, "serve"];
await import("../src/cli/main.js");
