/** Messages between the bench process and its worker processes (Node IPC, JSON). */

/** What a bench job carries: its index in the drain, or its enqueue time (latency and mixed load). */
export interface JobPayload {
  i?: number;
  /** Date.now() just before the enqueue call: the worker reports Date.now() - t. */
  t?: number;
}

/** Queue (or task) names every system uses: one per phase, so that each phase counts its own jobs. */
export interface BenchQueues {
  drain: string;
  latency: string;
  mixed: string;
}

export type Phase = keyof BenchQueues;
export const PHASES: readonly Phase[] = ["drain", "latency", "mixed"];

/** One value per phase, e.g. handled counts. */
export type PerPhase<T> = Record<Phase, T>;

export function perPhase<T>(make: (phase: Phase) => T): PerPhase<T> {
  return { drain: make("drain"), latency: make("latency"), mixed: make("mixed") };
}

/** The phase whose queue is `queue` (a worker consuming several queues learns it from the job). */
export function phaseOf(queues: BenchQueues, queue: string): Phase {
  const phase = PHASES.find((p) => queues[p] === queue);
  if (!phase) throw new Error(`not a bench queue: ${queue}`);
  return phase;
}

/** How a worker process consumes jobs of one system; plain data, sent over IPC. */
export type WorkerSpec =
  | { system: "baton"; baseUrl: string; concurrency: number }
  | { system: "graphile"; connectionString: string; concurrency: number; maxPoolSize?: number; workerOptions?: GraphileWorkerOptions }
  | { system: "pgboss"; connectionString: string; localConcurrency: number; batchSize: number; pollingIntervalSeconds: number };

/** The performance options of graphile-worker's preset (`preset.worker`) the bench sets. */
export interface GraphileWorkerOptions {
  localQueue?: { size: number };
  completeJobBatchDelay?: number;
}

export type ToWorker =
  | { type: "init"; spec: WorkerSpec; queues: BenchQueues }
  /** Start consuming (the drain clock starts when this is sent). */
  | { type: "go" }
  /** Stop gracefully, report the final counts and exit. */
  | { type: "stop" };

export type FromWorker =
  /** Loaded and connected as far as possible without consuming anything. */
  | { type: "ready" }
  /**
   * Sent every few milliseconds while something changed: `handled` are totals per phase (a job
   * run twice counts twice), `latencies` only the samples new since the previous report.
   */
  | { type: "progress" | "stopped"; handled: PerPhase<number>; latencies: PerPhase<number[]> }
  | { type: "failed"; message: string };

/** The worker half of a system: started on "go", stopped on "stop". */
export interface WorkerHandle {
  stop(): Promise<void>;
}

/** Called by a system's worker for every job it runs, before it returns. */
export type OnJob = (phase: Phase, payload: JobPayload) => void;
