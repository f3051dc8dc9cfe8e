import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchConfig } from "./config.js";
import type { ScaleResult } from "./extras.js";
import type { BenchQueues } from "./protocol.js";
import type { SystemUnderTest } from "./systems/system.js";
import { WorkerPool } from "./worker-pool.js";

export interface SystemResult {
  key: string;
  description: string;
  enqueue: { jobs: number; batchSize: number; seconds: number; jobsPerSecond: number };
  drain: { jobs: number; seconds: number; jobsPerSecond: number; handled: number; duplicates: number };
  latency: { samples: number; offeredRatePerSecond: number; p50Ms: number; p90Ms: number; p99Ms: number; maxMs: number };
  /** Broker memory and stream count (Baton only). */
  scale?: ScaleResult;
  /** Warnings and errors the system logged during its run. */
  problems: string[];
}

/**
 * One system, three phases on the same worker processes:
 * 1. enqueue `jobs` drain jobs in sequential batches, no worker running (the backlog);
 * 2. start the workers and time until the database records every one of them finished;
 * 3. with the workers idle, offer single jobs at a fixed rate and collect enqueue→handler-start
 *    latencies.
 * Throws if a job is missing: the bench asserts completeness, never timings.
 */
export async function benchSystem(system: SystemUnderTest, config: BenchConfig, queues: BenchQueues, jobs: number): Promise<SystemResult> {
  const enqueue = await measureEnqueue(system, jobs, config.batchSize);
  const pool = await WorkerPool.start(system.workerSpec, queues, config.workerProcesses);
  try {
    const drainSeconds = await measureDrain(system, pool, jobs, queues.drain, config.drainTimeoutMs);
    const latency = await measureLatency(system, pool, config.latencySamples, config.latencyRate);
    await pool.stop();
    const handled = pool.drained;
    if (handled < jobs) throw new Error(`${system.key}: only ${handled} of ${jobs} drain jobs were handled`);
    const left = await system.unfinished(queues.latency);
    if (left > 0) throw new Error(`${system.key}: ${left} latency jobs were not finished`);
    await pool.kill();
    const scale = await system.scale?.();
    return {
      key: system.key,
      description: system.description,
      enqueue,
      drain: { jobs, seconds: drainSeconds, jobsPerSecond: jobs / drainSeconds, handled, duplicates: handled - jobs },
      latency,
      ...(scale && { scale }),
      problems: system.problems(),
    };
  } finally {
    await pool.kill();
  }
}

/** The first batch warms up connections, prepared statements and JIT, and is not timed. */
async function measureEnqueue(system: SystemUnderTest, jobs: number, batchSize: number): Promise<SystemResult["enqueue"]> {
  const batch = (first: number) => Array.from({ length: Math.min(batchSize, jobs - first) }, (_, k) => ({ i: first + k }));
  const warmup = Math.min(batchSize, jobs);
  await system.enqueueBatch(batch(0));
  const started = performance.now();
  for (let first = warmup; first < jobs; first += batchSize) await system.enqueueBatch(batch(first));
  const seconds = (performance.now() - started) / 1000;
  return { jobs: jobs - warmup, batchSize, seconds, jobsPerSecond: seconds > 0 ? (jobs - warmup) / seconds : 0 };
}

/** From "go" to the moment the database has no unfinished job of the queue left. */
async function measureDrain(system: SystemUnderTest, pool: WorkerPool, jobs: number, queue: string, timeoutMs: number): Promise<number> {
  const started = performance.now();
  pool.go();
  await pool.until(() => pool.drained >= jobs, timeoutMs, `${system.key} to handle ${jobs} jobs`);
  // Every handler ran; the drain ends when the last completion is committed.
  const deadline = Date.now() + 30_000;
  while ((await system.unfinished(queue)) > 0) {
    if (Date.now() > deadline) throw new Error(`${system.key}: handlers ran but jobs stayed unfinished for 30 s`);
    await sleep(5);
  }
  return (performance.now() - started) / 1000;
}

/**
 * Open loop: job k is sent at start + k/rate whether or not earlier ones were answered, so a
 * slow enqueue cannot hide latency by slowing the offered load.
 */
async function measureLatency(system: SystemUnderTest, pool: WorkerPool, samples: number, rate: number): Promise<SystemResult["latency"]> {
  const started = performance.now();
  const sends: Promise<void>[] = [];
  for (let k = 0; k < samples; k++) {
    const wait = started + (k * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    sends.push(system.enqueueOne({ t: Date.now() }));
  }
  await Promise.all(sends);
  await pool.until(() => pool.latencies.length >= samples, 30_000, `${system.key} latency samples`);
  const sorted = [...pool.latencies].sort((a, b) => a - b);
  return {
    samples,
    offeredRatePerSecond: rate,
    p50Ms: percentile(sorted, 50),
    p90Ms: percentile(sorted, 90),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1]!,
  };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
