/**
 * Bench sizes and settings. Defaults give the full run (a few minutes on 2 cores); `--smoke`
 * shrinks everything so CI can prove that every system processes every job, in seconds.
 * Each value can be overridden by an environment variable (README lists them).
 */
export interface BenchConfig {
  smoke: boolean;
  /** Jobs enqueued in batches and then drained, per system. */
  jobs: number;
  /** Drain size for configurations that cannot do `jobs` in reasonable time (graphile default). */
  slowJobs: number;
  /** Jobs per enqueue call. */
  batchSize: number;
  latencySamples: number;
  /** Offered rate of the latency phase, jobs per second, one job per call. */
  latencyRate: number;
  /** Mixed load: how long producers offer jobs while the workers consume them. */
  mixedSeconds: number;
  /** Mixed load: offered rate, jobs per second (sent in small batches, one every 10 ms). */
  mixedRate: number;
  /** Worker processes per system. */
  workerProcesses: number;
  /** Baton worker concurrency (= max_in_flight) per process. */
  batonConcurrency: number;
  /** graphile-worker "tuned": concurrency per worker process, and its worker processes. */
  graphileConcurrency: number;
  graphileProcesses: number;
  /** Systems to run, by key; all when empty. */
  only: string[];
  /** Longest a drain may take before the run fails. */
  drainTimeoutMs: number;
  /** Baton scale checks (bench/extras.ts): jobs held in flight for the broker RSS reading. */
  inFlight: number;
  /** Baton scale checks: concurrent worker streams (max_in_flight 1 each), the jobs they drain, and their processes. */
  streams: number;
  streamJobs: number;
  streamProcesses: number;
  /** Scale phase (bench/scale.ts): finished jobs, then waiting jobs, seeded into the store. */
  scaleJobs: number;
}

/** "sql-floor" is no system but the raw SQL lifecycle on one connection, the physical reference. */
export const SYSTEM_KEYS = ["sql-floor", "baton", "graphile-tuned", "graphile-default", "pgboss-tuned"] as const;

export function loadBenchConfig(argv: string[], env: NodeJS.ProcessEnv): BenchConfig {
  const smoke = argv.includes("--smoke") || env.BENCH_SMOKE === "1";
  const int = (name: string, full: number, small: number) => {
    const raw = env[name];
    if (raw === undefined || raw === "") return smoke ? small : full;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer, got "${raw}"`);
    return n;
  };
  const only = (env.BENCH_SYSTEMS ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const key of only) {
    if (!(SYSTEM_KEYS as readonly string[]).includes(key)) throw new Error(`BENCH_SYSTEMS: unknown system "${key}" (known: ${SYSTEM_KEYS.join(", ")})`);
  }
  return {
    smoke,
    jobs: int("BENCH_JOBS", 100_000, 2_000),
    slowJobs: int("BENCH_SLOW_JOBS", 20_000, 1_000),
    batchSize: int("BENCH_BATCH", 1_000, 500),
    latencySamples: int("BENCH_LATENCY_SAMPLES", 200, 50),
    latencyRate: int("BENCH_LATENCY_RATE", 40, 50),
    mixedSeconds: int("BENCH_MIXED_SECONDS", 10, 2),
    mixedRate: int("BENCH_MIXED_RATE", 1_000, 500),
    workerProcesses: int("BENCH_WORKER_PROCESSES", 2, 2),
    batonConcurrency: int("BENCH_BATON_CONCURRENCY", 500, 500),
    graphileConcurrency: int("BENCH_GRAPHILE_CONCURRENCY", 20, 20),
    graphileProcesses: int("BENCH_GRAPHILE_PROCESSES", 2, 2),
    only,
    drainTimeoutMs: int("BENCH_DRAIN_TIMEOUT_S", 300, 60) * 1000,
    inFlight: int("BENCH_IN_FLIGHT", 10_000, 1_000),
    streams: int("BENCH_STREAMS", 1_000, 100),
    streamJobs: int("BENCH_STREAM_JOBS", 5_000, 500),
    streamProcesses: int("BENCH_STREAM_PROCESSES", 2, 2),
    scaleJobs: int("BENCH_SCALE_JOBS", 1_000_000, 20_000),
  };
}
