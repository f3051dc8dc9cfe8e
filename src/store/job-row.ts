import type { JobRecord } from "./job-record.js";
import type { RowOf } from "./statements.js";

/** A job as the statements return it (the JobColumns fragment of jobs.sql). */
export type JobRow = RowOf<JobRecord>;

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
    workerLabels: row.worker_labels,
  };
}
