import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Job, JobErrorSchema, JobSchema, JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
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
    maxAttempts: row.maxAttempts,
    runTime: timestampFromDate(row.runTime),
    createTime: timestampFromDate(row.createTime),
    finishTime: row.finishTime ? timestampFromDate(row.finishTime) : undefined,
    dedupKey: row.dedupKey ?? "",
    chainId: row.chainId,
    parentId: row.parentId ?? "",
    dependsOn: row.dependsOn,
    progressPercent: row.progressPercent,
    progressMessage: row.progressMessage,
    result: row.result ?? new Uint8Array(),
    lastError: row.lastError,
    timeout: row.timeoutSeconds === null ? undefined : durationFromMs(Math.round(row.timeoutSeconds * 1000)),
    cancelRequested: row.cancelRequested,
    fairnessKey: row.fairnessKey ?? "",
    workerLabels: row.workerLabels,
    leaseExpireTime: row.leaseExpireTime ? timestampFromDate(row.leaseExpireTime) : undefined,
    errors: row.errors.map((e) => create(JobErrorSchema, { attempt: e.attempt, message: e.message, time: timestampFromDate(new Date(e.time)) })),
  });
}
