import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { BenchConfig } from "./config.js";
import type { ScaleResult } from "./extras.js";
import type { BenchQueues, JobPayload, Phase } from "./protocol.js";
import type { SystemUnderTest } from "./systems/system.js";
import { WorkerPool } from "./worker-pool.js";

/** Enqueue→handler-start latencies in ms, nearest-rank percentiles. */
export interface LatencyStats {
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** Jobs of a phase the handlers ran, counted once the workers have stopped. */
interface Tally {
  handled: number;
  /** Runs beyond one per job: allowed by at-least-once delivery, unexpected in a clean run. */
  duplicates: number;
}

export interface MixedResult extends Tally {
  /** Length of the window during which jobs were offered. */
  seconds: number;
  offeredPerSecond: number;
  /** Jobs offered in the window; every one of them must be handled and finished. */
  jobs: number;
  /** Jobs handled by the end of the window ÷ its length. */
  handledPerSecond: number;
  /** Jobs offered but not yet handled at the end of the window. */
  backlogAtEnd: number;
  /** The backlog at the end of the window was at most KEPT_UP_BACKLOG_SECONDS of offered load. */
  keptUp: boolean;
  /** From the end of the window until the database recorded every job finished. */
  catchUpSeconds: number;
  /** Enqueue→handler-start, every job of the phase. */
  latency: LatencyStats;
  /** How long the enqueue calls took: tells a producer-side backlog from a consumer-side one. */
  enqueueCall: LatencyStats;
}

/** The scale phase's results (bench/scale.ts): drain with a large history, latency with a large backlog. */
export interface StoreScaleResult {
  /** Rows seeded for each step. */
  rows: number;
  history: {
    seedSeconds: number;
    enqueue: SystemResult["enqueue"];
    drain: { jobs: number; seconds: number; jobsPerSecond: number; duplicates: number };
    /** Drain rate with the history ÷ the drain rate on the empty database, same run. */
    ratioToEmpty: number;
  };
  backlog: {
    seedSeconds: number;
    /** The queue holding the waiting rows, consumed by nobody. */
    queue: string;
    latency: { samples: number; offeredRatePerSecond: number } & LatencyStats;
  };
}

export interface SystemResult {
  key: string;
  version: string;
  description: string;
  enqueue: { jobs: number; batchSize: number; seconds: number; jobsPerSecond: number };
  drain: { jobs: number; seconds: number; jobsPerSecond: number } & Tally;
  latency: { samples: number; offeredRatePerSecond: number } & LatencyStats;
  mixed: MixedResult;
  /** Broker memory and stream count (Baton only). */
  scale?: ScaleResult;
  /** The same drain and latency with a million rows in the store (Baton only; bench/scale.ts). */
  storeScale?: StoreScaleResult;
  /** Warnings and errors the system logged during its run. */
  problems: string[];
}

/** Batches of the mixed load are sent this often, each with the jobs due since the previous one. */
const MIXED_TICK_MS = 10;

/**
 * A system keeps up with the mixed load when, at the end of the window, at most this many
 * seconds' worth of offered jobs are waiting. One that cannot keep up piles up backlog for the
 * whole window; one that can only has the jobs of its last moments in flight.
 */
const KEPT_UP_BACKLOG_SECONDS = 1;

/** Once every handler ran, how long the database may take to record the last completions. */
const FINISH_TIMEOUT_MS = 30_000;

/**
 * One system, four phases on the same worker processes:
 * 1. enqueue `jobs` drain jobs in sequential batches, no worker running (the backlog);
 * 2. start the workers and time until the database records every one of them finished;
 * 3. with the workers idle, offer single jobs at a fixed rate and collect enqueue→handler-start
 *    latencies;
 * 4. mixed load: offer small batches at a fixed rate for a while, the workers consuming at the
 *    same time; count what they handle in that window and collect the same latencies.
 * Throws if a job is missing: the bench asserts completeness, never timings.
 */
export async function benchSystem(system: SystemUnderTest, config: BenchConfig, queues: BenchQueues, jobs: number): Promise<SystemResult> {
  const enqueue = await measureEnqueue(system, queues.drain, jobs, config.batchSize);
  const pool = await WorkerPool.start(system.workerSpec, queues, system.workerProcesses);
  try {
    const drainSeconds = await measureDrain(system, pool, queues, jobs, config.drainTimeoutMs);
    const latency = await measureLatency(system, pool, queues.latency, config.latencySamples, config.latencyRate);
    const mixed = await measureMixed(system, pool, queues, config);
    await pool.stop();
    const drained = tally(system, pool, "drain", jobs);
    tally(system, pool, "latency", config.latencySamples);
    const mixedTally = tally(system, pool, "mixed", mixed.jobs);
    const left = await system.unfinished(queues.latency);
    if (left > 0) throw new Error(`${system.key}: ${left} latency jobs were not finished`);
    await pool.kill();
    const scale = await system.scale?.();
    return {
      key: system.key,
      version: system.version,
      description: system.description,
      enqueue,
      drain: { jobs, seconds: drainSeconds, jobsPerSecond: jobs / drainSeconds, ...drained },
      latency,
      mixed: { ...mixed, ...mixedTally },
      ...(scale && { scale }),
      problems: system.problems(),
    };
  } finally {
    await pool.kill();
  }
}

/** The first batch warms up connections, prepared statements and JIT, and is not timed. */
export async function measureEnqueue(system: SystemUnderTest, queue: string, jobs: number, batchSize: number): Promise<SystemResult["enqueue"]> {
  const batch = (first: number) => Array.from({ length: Math.min(batchSize, jobs - first) }, (_, k) => ({ i: first + k }));
  const warmup = Math.min(batchSize, jobs);
  await system.enqueueBatch(queue, batch(0));
  const started = performance.now();
  for (let first = warmup; first < jobs; first += batchSize) await system.enqueueBatch(queue, batch(first));
  const seconds = (performance.now() - started) / 1000;
  return { jobs: jobs - warmup, batchSize, seconds, jobsPerSecond: seconds > 0 ? (jobs - warmup) / seconds : 0 };
}

/** From "go" to the moment the database has no unfinished job of the drain queue left. */
export async function measureDrain(system: SystemUnderTest, pool: WorkerPool, queues: BenchQueues, jobs: number, timeoutMs: number): Promise<number> {
  const started = performance.now();
  pool.go();
  await untilDone(system, pool, queues, "drain", jobs, timeoutMs);
  return (performance.now() - started) / 1000;
}

/** Single jobs, one per call, at `rate` per second (open loop); latencies of all of them. */
export async function measureLatency(system: SystemUnderTest, pool: WorkerPool, queue: string, samples: number, rate: number): Promise<SystemResult["latency"]> {
  await openLoop(samples, 1000 / rate, () => system.enqueueOne(queue, { t: Date.now() }));
  await pool.until(() => pool.latencies("latency").length >= samples, 30_000, `${system.key} latency samples`);
  return { samples, offeredRatePerSecond: rate, ...summarize(pool.latencies("latency")) };
}

/**
 * Producers and workers at once: for `mixedSeconds`, a batch every MIXED_TICK_MS with the jobs
 * due at `mixedRate` per second (open loop, so a system that enqueues slowly is not offered
 * less). The handled count is read when the window closes (worker reports lag it by at most
 * 20 ms); then every job must be handled and recorded finished, however long the backlog takes.
 */
async function measureMixed(system: SystemUnderTest, pool: WorkerPool, queues: BenchQueues, config: BenchConfig): Promise<Omit<MixedResult, keyof Tally>> {
  const { mixedSeconds: seconds, mixedRate: rate } = config;
  const ticks = Math.round((seconds * 1000) / MIXED_TICK_MS);
  // Jobs due by tick k, rounded down, so that the batches add up to exactly rate × seconds.
  const dueBy = (k: number) => Math.floor((rate * k * MIXED_TICK_MS) / 1000);
  const jobs = dueBy(ticks);
  const callMs: number[] = [];
  const sendBatch = async (k: number) => {
    const size = dueBy(k + 1) - dueBy(k);
    if (size === 0) return;
    const t = Date.now();
    await system.enqueueBatch(queues.mixed, Array.from({ length: size }, (): JobPayload => ({ t })));
    callMs.push(Date.now() - t);
  };
  const windowClosed = sleep(seconds * 1000).then(() => ({ at: performance.now(), handled: pool.handled("mixed") }));
  await openLoop(ticks, MIXED_TICK_MS, sendBatch);
  const end = await windowClosed;
  await untilDone(system, pool, queues, "mixed", jobs, config.drainTimeoutMs);
  const backlogAtEnd = Math.max(0, jobs - end.handled);
  return {
    seconds,
    offeredPerSecond: rate,
    jobs,
    handledPerSecond: end.handled / seconds,
    backlogAtEnd,
    keptUp: backlogAtEnd <= rate * KEPT_UP_BACKLOG_SECONDS,
    catchUpSeconds: (performance.now() - end.at) / 1000,
    latency: summarize(pool.latencies("mixed")),
    enqueueCall: summarize(callMs),
  };
}

/**
 * Calls `send(k)` at start + k × intervalMs for k < count, whether or not earlier calls have
 * returned, so that a slow enqueue cannot slow down the offered load and hide latency. Resolves
 * when every call has returned; rejects with the first failure.
 */
async function openLoop(count: number, intervalMs: number, send: (k: number) => Promise<void>): Promise<void> {
  const started = performance.now();
  const calls: Promise<void>[] = [];
  let failure: { error: unknown } | undefined;
  for (let k = 0; k < count; k++) {
    const wait = started + k * intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    // Caught at once: a call failing while later ones are still being scheduled must not
    // surface as an unhandled rejection (which ends the process).
    calls.push(
      send(k).catch((error: unknown) => {
        failure ??= { error };
      }),
    );
  }
  await Promise.all(calls);
  if (failure) throw failure.error;
}

/** Until the handlers ran `jobs` jobs of `phase` and the database shows none of its queue unfinished. */
async function untilDone(system: SystemUnderTest, pool: WorkerPool, queues: BenchQueues, phase: Phase, jobs: number, timeoutMs: number): Promise<void> {
  await pool.until(() => pool.handled(phase) >= jobs, timeoutMs, `${system.key} to handle ${jobs} ${phase} jobs`);
  // Every handler ran; the phase ends when the last completion is committed.
  const deadline = Date.now() + FINISH_TIMEOUT_MS;
  while ((await system.unfinished(queues[phase])) > 0) {
    if (Date.now() > deadline) throw new Error(`${system.key}: handlers ran but ${phase} jobs stayed unfinished for ${FINISH_TIMEOUT_MS / 1000} s`);
    await sleep(5);
  }
}

/** Final counts of a phase, once the workers have stopped; throws if a job was never handled. */
export function tally(system: SystemUnderTest, pool: WorkerPool, phase: Phase, jobs: number): Tally {
  const handled = pool.handled(phase);
  if (handled < jobs) throw new Error(`${system.key}: only ${handled} of ${jobs} ${phase} jobs were handled`);
  return { handled, duplicates: handled - jobs };
}

function summarize(latencies: readonly number[]): LatencyStats {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50Ms: percentile(sorted, 50), p90Ms: percentile(sorted, 90), p99Ms: percentile(sorted, 99), maxMs: sorted[sorted.length - 1]! };
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
