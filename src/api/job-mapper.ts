import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Job, JobErrorSchema, JobSchema, JobState } from "../gen/baton/v1/job_pb.js";
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
    timeout: row.timeout ? durationFromMs(intervalMs(row.timeout)) : undefined,
    errors: row.errors.map((e) => create(JobErrorSchema, { attempt: e.attempt, message: e.message, time: timestampFromDate(new Date(e.time)) })),
  });
}

/** node-postgres parses intervals into parts; timeouts only use days and smaller. */
function intervalMs(interval: object): number {
  const p = interval as Partial<Record<"days" | "hours" | "minutes" | "seconds" | "milliseconds", number>>;
  return ((((p.days ?? 0) * 24 + (p.hours ?? 0)) * 60 + (p.minutes ?? 0)) * 60 + (p.seconds ?? 0)) * 1000 + (p.milliseconds ?? 0);
}
