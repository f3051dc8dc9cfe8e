/**
 * The scale phase: how Baton's store behaves once it holds what a long-running deployment
 * holds, measured with the same worker processes, job counts and methods as the phases of
 * bench/measure.ts, so that each number is compared with its own empty-database value of the
 * same run:
 * 1. `rows` (1M) succeeded jobs are seeded into the queue that is then filled with `jobs` jobs
 *    and drained: drain rate with a large history ÷ drain rate on the empty database.
 * 2. `rows` available jobs are seeded into a queue no worker consumes, then single jobs are
 *    offered to an idle queue as in the latency phase: enqueue→handler-start latency, i.e. the
 *    insert, the wake-up, the claim and the delivery, on a table whose claim index holds a
 *    million waiting jobs, ÷ the idle latency on the empty database.
 * The rows are written by bench/seed.ts, the only code that knows the store's layout.
 */
import { performance } from "node:perf_hooks";
import type { BenchConfig } from "./config.js";
import { type StoreScaleResult, type SystemResult, measureDrain, measureEnqueue, measureLatency, tally } from "./measure.js";
import type { BenchQueues } from "./protocol.js";
import type { SystemUnderTest } from "./systems/system.js";
import { WorkerPool } from "./worker-pool.js";

/** Queues of their own, so that the counts of the earlier phases and of this one cannot mix. */
const SCALE_QUEUES: BenchQueues = { drain: "bench_scale_drain", latency: "bench_scale_latency", mixed: "bench_scale_mixed" };
const BACKLOG_QUEUE = "bench_scale_backlog";

/** A system whose store the bench can seed directly (Baton). */
export type SeedableSystem = SystemUnderTest & Required<Pick<SystemUnderTest, "seed">>;

export async function measureStoreScale(system: SeedableSystem, config: BenchConfig, empty: SystemResult): Promise<StoreScaleResult> {
  const rows = config.scaleJobs;
  const jobs = empty.drain.jobs;
  let started = performance.now();
  await system.seed.finished(SCALE_QUEUES.drain, rows);
  const historySeedSeconds = (performance.now() - started) / 1000;
  const enqueue = await measureEnqueue(system, SCALE_QUEUES.drain, jobs, config.batchSize);
  const pool = await WorkerPool.start(system.workerSpec, SCALE_QUEUES, system.workerProcesses);
  try {
    const drainSeconds = await measureDrain(system, pool, SCALE_QUEUES, jobs, config.drainTimeoutMs);
    started = performance.now();
    await system.seed.backlog(BACKLOG_QUEUE, rows);
    const backlogSeedSeconds = (performance.now() - started) / 1000;
    const latency = await measureLatency(system, pool, SCALE_QUEUES.latency, config.latencySamples, config.latencyRate);
    await pool.stop();
    const drained = tally(system, pool, "drain", jobs);
    tally(system, pool, "latency", config.latencySamples);
    const drainRate = jobs / drainSeconds;
    return {
      rows,
      history: {
        seedSeconds: historySeedSeconds,
        enqueue,
        drain: { jobs, seconds: drainSeconds, jobsPerSecond: drainRate, duplicates: drained.duplicates },
        ratioToEmpty: drainRate / empty.drain.jobsPerSecond,
      },
      backlog: { seedSeconds: backlogSeedSeconds, queue: BACKLOG_QUEUE, latency },
    };
  } finally {
    await pool.kill();
  }
}

export function hasSeed(system: SystemUnderTest): system is SeedableSystem {
  return system.seed !== undefined;
}
