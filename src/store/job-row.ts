import type { JobErrorRecord, JobRecord, StoredJobState } from "./job-record.js";

/** A job as the statements return it (the JobColumns fragment of jobs.sql). */
export interface JobRow {
  id: string;
  queue: string;
  state: StoredJobState;
  scheduled: boolean;
  payload: Buffer;
  headers: Record<string, string>;
  priority: number;
  attempt: number;
  max_attempts: number;
  run_time: Date;
  create_time: Date;
  finish_time: Date | null;
  dedup_key: string | null;
  chain_id: string;
  parent_id: string | null;
  depends_on: string[];
  timeout_seconds: number | null;
  lease_token: string | null;
  lease_expire_time: Date | null;
  lease_owner: string | null;
  progress_percent: number;
  progress_message: string;
  result: Buffer | null;
  last_error: string;
  errors: JobErrorRecord[];
  cancel_requested: boolean;
  fairness_key: string | null;
  attempt_deadline: Date | null;
  attempt_start_time: Date | null;
  trace_id: string | null;
  trace_sampled: boolean;
}

export function toJobRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    queue: row.queue,
    state: row.state,
    scheduled: row.scheduled,
    payload: row.payload,
    headers: row.headers,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runTime: row.run_time,
    createTime: row.create_time,
    finishTime: row.finish_time,
    dedupKey: row.dedup_key,
    chainId: row.chain_id,
    parentId: row.parent_id,
    dependsOn: row.depends_on,
    timeoutSeconds: row.timeout_seconds,
    leaseToken: row.lease_token,
    leaseExpireTime: row.lease_expire_time,
    leaseOwner: row.lease_owner,
    progressPercent: row.progress_percent,
    progressMessage: row.progress_message,
    result: row.result,
    lastError: row.last_error,
    errors: row.errors,
    cancelRequested: row.cancel_requested,
    fairnessKey: row.fairness_key,
    attemptDeadline: row.attempt_deadline,
    attemptStartTime: row.attempt_start_time,
    traceId: row.trace_id,
    traceSampled: row.trace_sampled,
  };
}
