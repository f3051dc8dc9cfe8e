// Preloaded into the compiled broker the bench starts (bench/broker.ts):
//   node --import bench/broker-guard.mjs dist/src/cli/main.js serve
// Plain JavaScript so that the broker runs without tsx, as in production. Its only job: when
// the bench process goes away (its IPC channel closes, even if it was killed), the broker shuts
// down instead of living on.
import process from "node:process";
import { setTimeout } from "node:timers";

process.on("disconnect", () => {
  process.kill(process.pid, "SIGTERM");
  setTimeout(() => process.exit(1), 15_000).unref();
});
