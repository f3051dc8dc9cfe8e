import type { BenchConfig } from "../config.js";
import type { ScaleResult } from "../extras.js";
import type { BenchPostgres } from "../postgres.js";
import type { BenchQueues, JobPayload, WorkerSpec } from "../protocol.js";

/**
 * The producer half of a system under test, as the bench process sees it. The consumer half
 * runs in worker processes, described by `workerSpec`.
 */
export interface SystemUnderTest {
  /** Short key used in results and ratios, e.g. "graphile-tuned". */
  readonly key: string;
  /** Release of the software measured (from its installed package.json), shown next to the key. */
  readonly version: string;
  /** How it is set up, in a few words for the table and README. */
  readonly description: string;
  readonly workerSpec: WorkerSpec;
  /** How many worker processes run `workerSpec`. */
  readonly workerProcesses: number;
  /** Jobs for `queue`, all in one call (the system's batch API). */
  enqueueBatch(queue: string, payloads: JobPayload[]): Promise<void>;
  /** One job for `queue`, the way a producer adds a single job. */
  enqueueOne(queue: string, payload: JobPayload): Promise<void>;
  /** Jobs of `queue` that the database does not yet record as finished. */
  unfinished(queue: string): Promise<number>;
  /** Anything the system's processes logged at warn level or above, for the report. */
  problems(): string[];
  /** Checks beyond the per-system phases that only a broker has (Baton: memory, stream count). */
  scale?(): Promise<ScaleResult>;
  /** Rows written straight into the store for the scale phase (bench/scale.ts, bench/seed.ts). */
  seed?: {
    /** `n` succeeded jobs of `queue`. */
    finished(queue: string, n: number): Promise<void>;
    /** `n` due jobs of `queue` waiting to be claimed. */
    backlog(queue: string, n: number): Promise<void>;
  };
  close(): Promise<void>;
}

export interface SystemContext {
  postgres: BenchPostgres;
  config: BenchConfig;
  queues: BenchQueues;
}

export type SystemFactory = (context: SystemContext) => Promise<SystemUnderTest>;
