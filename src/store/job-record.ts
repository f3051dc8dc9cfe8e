/** Job states as stored; SCHEDULED is an AVAILABLE job whose run_time is still ahead. */
export type StoredJobState = "available" | "blocked" | "leased" | "succeeded" | "dead" | "cancelled";

export interface JobErrorRecord {
  attempt: number;
  message: string;
  time: string;
}

/** A job as the store returns it. Ids are decimal strings (PostgreSQL bigint). */
export interface JobRecord {
  id: string;
  queue: string;
  state: StoredJobState;
  /** True when state is available but runTime is still ahead (by database time). */
  scheduled: boolean;
  payload: Buffer;
  headers: Record<string, string>;
  priority: number;
  attempt: number;
  maxAttempts: number;
  runTime: Date;
  createTime: Date;
  finishTime: Date | null;
  dedupKey: string | null;
  chainId: string;
  parentId: string | null;
  dependsOn: string[];
  timeoutSeconds: number | null;
  leaseToken: string | null;
  leaseExpireTime: Date | null;
  leaseOwner: string | null;
  progressPercent: number;
  progressMessage: string;
  result: Buffer | null;
  lastError: string;
  errors: JobErrorRecord[];
  cancelRequested: boolean;
  fairnessKey: string | null;
  attemptDeadline: Date | null;
  /** When the current (or last) attempt started; null before the first. */
  attemptStartTime: Date | null;
  /** The job's trace (a uuid); null on jobs created before tracing was added. */
  traceId: string | null;
  /** Whether the job's spans are recorded. */
  traceSampled: boolean;
}

/**
 * A job as a claim hands it to a stream: what its delivery and its lease need, mapped from the
 * claim's narrow rows. `record` holds the whole row when a stream wants full jobs.
 */
export interface ClaimedJob {
  id: string;
  queue: string;
  payload: Buffer;
  headers: Record<string, string>;
  priority: number;
  attempt: number;
  maxAttempts: number;
  chainId: string;
  parentId: string | null;
  timeoutSeconds: number | null;
  leaseToken: string;
  leaseExpireTime: Date;
  /** When the attempt times out (database time), if it has a timeout. */
  attemptDeadline: Date | null;
  runTime: Date;
  /** From when the job became due to this claim, for the metrics. */
  queueWaitSeconds: number;
  /** The W3C traceparent of this attempt's process span, for the worker's spans. */
  traceparent: string;
  /** The results of the job's direct blockers, in depends_on order; empty without blockers. */
  dependsOnResults: DependsOnResult[];
  record?: JobRecord;
}

/** What a blocker returned, as its dependant's delivery carries it. */
export interface DependsOnResult {
  jobId: string;
  /** Null when omitted: past the delivery's byte cap, or the blocker no longer exists. */
  result: Buffer | null;
}

/** What an enqueue does to a waiting job that holds its dedup_key, besides KEEP (see NewJob). */
export type DedupPolicy = "replace" | "debounce";

/** A validated request to create a job. */
export interface NewJob {
  queue: string;
  payload: Uint8Array;
  headers: Record<string, string>;
  priority: number;
  /** Absolute first run time; wins over delaySeconds. */
  runTime?: Date;
  delaySeconds?: number;
  /** Undefined takes the queue's setting, then the broker's default. */
  maxAttempts?: number;
  dedupKey?: string;
  /** With dedupKey: also match a job with that key finished less than this long ago. */
  dedupWindowSeconds?: number;
  /**
   * With dedupKey: what this request does to a job that holds the key while it waits. Undefined
   * leaves it as it is (KEEP); "replace" gives it this request's payload and run time;
   * "debounce" only its run time. A running job is never altered.
   */
  dedupPolicy?: DedupPolicy;
  fairnessKey?: string;
  /** Ids of jobs that must succeed first. */
  dependsOn?: string[];
  /**
   * Positions, in the batch being inserted, of earlier jobs that must succeed first (see
   * jobInsertGraph); only a batch insert resolves them.
   */
  dependsOnIndex?: number[];
  chainId?: string;
  parentId?: string;
  timeoutSeconds?: number;
}

/** A lease as workers and the broker name it. */
export interface LeaseRef {
  jobId: string;
  leaseToken: string;
}

/** One string per lease, for sets of settled leases: a job id alone would not tell leases apart. */
export const leaseKey = (lease: LeaseRef) => `${lease.jobId}/${lease.leaseToken}`;
