/**
 * `npx tsx bench/enqueue-paths.ts`: Baton's two enqueue paths back to back, on one broker and
 * database: the TypeScript client over its shared EnqueueJobsStream, and the same client making
 * one EnqueueJobs call per batch (`enqueueStream: false`). Alternating rounds, so that a change
 * in the machine's load touches both. Reports jobs/s for sequential batches of
 * `BENCH_BATCH` (1,000) and the median time of a batch of 10 (no worker running).
 */
import { performance } from "node:perf_hooks";
import { createClient } from "../clients/ts/src/index.js";
import { loadBenchConfig } from "./config.js";
import { startBenchPostgres } from "./postgres.js";
import { createBaton } from "./systems/baton.js";

const ROUNDS = 2;
const BIG_BATCHES = 30;
const SMALL_CALLS = 100;

const config = loadBenchConfig([], { ...process.env, BENCH_SYSTEMS: "baton" });
const postgres = await startBenchPostgres();
const system = await createBaton({ postgres, config, queues: { drain: "paths_drain", latency: "paths_latency", mixed: "paths_mixed" } });
const baseUrl = (system.workerSpec as { baseUrl: string }).baseUrl;
const batch = (size: number) => Array.from({ length: size }, (_, i) => ({ queue: "paths", payload: { i } }));

try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const enqueueStream of [true, false]) {
      const client = createClient({ baseUrl, enqueueStream });
      await client.enqueueManyIds(batch(config.batchSize)); // warm-up: connection, prepared statements
      let started = performance.now();
      for (let k = 0; k < BIG_BATCHES; k++) await client.enqueueManyIds(batch(config.batchSize));
      const jobsPerSecond = (BIG_BATCHES * config.batchSize) / ((performance.now() - started) / 1000);
      const small: number[] = [];
      for (let k = 0; k < SMALL_CALLS; k++) {
        started = performance.now();
        await client.enqueueManyIds(batch(10));
        small.push(performance.now() - started);
      }
      small.sort((a, b) => a - b);
      const path = enqueueStream ? "EnqueueJobsStream" : "EnqueueJobs calls";
      console.log(
        `round ${round}, ${path.padEnd(17)}: batches of ${config.batchSize} ${jobsPerSecond.toFixed(0)} jobs/s; ` +
          `batch of 10 median ${small[Math.floor(small.length / 2)]!.toFixed(2)} ms`,
      );
      client.close();
    }
  }
} finally {
  await system.close();
  await postgres.stop();
}
