import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Job, JobErrorSchema, JobSchema, JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { intervalSeconds } from "../store/interval.js";
import type { JobRecord, StoredJobState } from "../store/job-record.js";

const states: Record<StoredJobState, JobState> = {
  available: JobState.AVAILABLE,
  blocked: JobState.BLOCKED,
  leased: JobState.LEASED,
  succeeded: JobState.SUCCEEDED,
  dead: JobState.DEAD,
  cancelled: JobState.CANCELLED,
};

export function jobToProto(row: JobRecord): Job {
  return create(JobSchema, {
    id: row.id,
    queue: row.queue,
    state: row.scheduled ? JobState.SCHEDULED : states[row.state],
    payload: row.payload,
    headers: row.headers,
    priority: row.priority,
    attempt: row.attempt,
    maxAttempts: row.max_attempts,
    runTime: timestampFromDate(row.run_time),
    createTime: timestampFromDate(row.create_time),
    finishTime: row.finish_time ? timestampFromDate(row.finish_time) : undefined,
    dedupKey: row.dedup_key ?? "",
    chainId: row.chain_id,
    parentId: row.parent_id ?? "",
    dependsOn: row.depends_on,
    progressPercent: row.progress_percent,
    progressMessage: row.progress_message,
    result: row.result ?? new Uint8Array(),
    lastError: row.last_error,
    timeout: row.timeout ? durationFromMs(Math.round(intervalSeconds(row.timeout)! * 1000)) : undefined,
    cancelRequested: row.cancel_requested,
    fairnessKey: row.fairness_key ?? "",
    leaseExpireTime: row.lease_expire_time ? timestampFromDate(row.lease_expire_time) : undefined,
    errors: row.errors.map((e) => create(JobErrorSchema, { attempt: e.attempt, message: e.message, time: timestampFromDate(new Date(e.time)) })),
  });
}
