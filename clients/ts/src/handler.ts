import type { JobSpec } from "./client.js";
import type { Job, JobResult } from "./gen/baton/v1/job_pb.js";
import type { Payload } from "./payload.js";

/** What a handler may do for the job it runs, besides returning its result. */
export interface JobContext {
  /**
   * Aborted when the job is cancelled ("job cancelled"), its lease is lost ("lease lost"), or
   * the worker's shutdown timeout passes; `signal.reason` says which.
   */
  signal: AbortSignal;
  /** Reports progress; only the latest report per job is stored. Dropped while reconnecting. */
  progress: (percent: number, message?: string) => void;
  /** Next jobs of the chain, created in the same transaction as this job's ack. */
  continueWith: (...jobs: JobSpec[]) => void;
  /**
   * What the job's blockers (depends_on, depends_on_index) returned, in the order of
   * `job.dependsOn`; empty for a job without blockers. An entry with `omitted` set carries no
   * result (past the broker's BATON_MAX_DEPENDS_ON_RESULT_BYTES): read it with getJob.
   * A typed job's `parseResult` reads an entry.
   */
  dependsOnResults: JobResult[];
}

/**
 * Returns the job's result; throwing fails the attempt (it is retried with backoff; throw a
 * RetryAfterError or DeadLetterError to steer that).
 */
export type JobHandler = (job: Job, context: JobContext) => Promise<Payload> | Payload;
