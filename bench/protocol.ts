/** Messages between the bench process and its worker processes (Node IPC, JSON). */

/** What a bench job carries: its index in the drain, or its enqueue time for latency. */
export interface JobPayload {
  i?: number;
  /** Date.now() just before the enqueue call: the worker reports Date.now() - t. */
  t?: number;
}

/** Queue (or task) names every system uses. */
export interface BenchQueues {
  drain: string;
  latency: string;
}

/** How a worker process consumes jobs of one system; plain data, sent over IPC. */
export type WorkerSpec =
  | { system: "baton"; baseUrl: string; concurrency: number }
  | { system: "graphile"; connectionString: string; concurrency: number; maxPoolSize: number; pollInterval?: number }
  | { system: "pgboss"; connectionString: string; workersPerProcess: number; batchSize: number; pollingIntervalSeconds: number };

export type ToWorker =
  | { type: "init"; spec: WorkerSpec; queues: BenchQueues }
  /** Start consuming (the drain clock starts when this is sent). */
  | { type: "go" }
  /** Stop gracefully, report the final counts and exit. */
  | { type: "stop" };

export type FromWorker =
  /** Loaded and connected as far as possible without consuming anything. */
  | { type: "ready" }
  /** Sent every few milliseconds while something changed; counts are totals, latencies new. */
  | { type: "progress"; drained: number; latencies: number[] }
  | { type: "stopped"; drained: number; latencies: number[] }
  | { type: "failed"; message: string };

/** The worker half of a system: started on "go", stopped on "stop". */
export interface WorkerHandle {
  stop(): Promise<void>;
}

/** Called by a system's worker for every job it runs, before it returns. */
export type OnJob = (payload: JobPayload) => void;
