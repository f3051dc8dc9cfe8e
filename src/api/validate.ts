import { type Duration, durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import type { EnqueueJobRequest } from "../gen/baton/v1/job_pb.js";
import { BatonError, invalidArgument } from "../errors.js";
import type { NewJob } from "../store/job-record.js";

/** Same rule as the jobs table's queue_name_valid constraint. */
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const JOB_ID = /^[1-9][0-9]{0,18}$/;
const MAX_BIGINT = 9223372036854775807n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface EnqueueLimits {
  maxPayloadBytes: number;
  /** Most headers on one job (BATON_MAX_HEADERS). */
  maxHeaders: number;
  /** Most bytes of one job's header names and values together, UTF-8 (BATON_MAX_HEADER_BYTES). */
  maxHeaderBytes: number;
}

/** Whether `queue` follows the queue-name rule; for guards that leave malformed names to the handler. */
export function isQueueName(queue: string): boolean {
  return QUEUE_NAME.test(queue);
}

export function validateQueueName(queue: string, field = "queue"): string {
  if (queue === "") throw invalidArgument(`${field} must not be empty`);
  if (!QUEUE_NAME.test(queue)) {
    throw invalidArgument(
      `${field} "${queue.slice(0, 140)}" is invalid: use 1-128 letters, digits, '_', '-', '.' or ':', starting with a letter or digit`,
    );
  }
  return queue;
}

/**
 * Every string that reaches the database passes here: PostgreSQL refuses NUL in text (the
 * statement fails, and with it every job batched into it), and a lone UTF-16 surrogate (which
 * Connect's JSON form can carry) has no UTF-8 encoding. `maxBytes` counts UTF-8 bytes, as the
 * database stores them.
 */
export function validateText(value: string, field: string, maxBytes: number): string {
  if (value.includes("\0")) throw invalidArgument(`${field} contains a NUL byte`);
  if (!value.isWellFormed()) throw invalidArgument(`${field} is not valid UTF-8 (it has a lone surrogate)`);
  const bytes = Buffer.byteLength(value);
  if (bytes > maxBytes) throw invalidArgument(`${field} is ${bytes} bytes (UTF-8); the limit is ${maxBytes}`);
  return value;
}

export function validateJobId(id: string, field = "id"): string {
  if (id === "") throw invalidArgument(`${field} must not be empty`);
  if (!JOB_ID.test(id) || BigInt(id) > MAX_BIGINT) throw invalidArgument(`${field} "${id.slice(0, 40)}" is not a job id`);
  return id;
}

export function validateLeaseToken(token: string): string {
  if (!UUID.test(token)) throw invalidArgument(`lease_token "${token.slice(0, 40)}" is not a lease token`);
  return token;
}

export function validateEnqueue(request: EnqueueJobRequest, limits: EnqueueLimits, field?: string): NewJob {
  /** Names a field as the caller sent it: "queue" for one job, "jobs[3].queue" in a batch. */
  const at = (name: string) => (field ? `${field}.${name}` : name);
  const queue = validateQueueName(request.queue, at("queue"));
  if (request.payload.byteLength > limits.maxPayloadBytes) {
    throw new BatonError(
      "resource_exhausted",
      `${at("payload")} is ${request.payload.byteLength} bytes; the limit is ${limits.maxPayloadBytes} (BATON_MAX_PAYLOAD_BYTES)`,
    );
  }
  validateHeaders(request.headers, limits, at("headers"));
  if (request.maxAttempts < 0 || request.maxAttempts > 1000) {
    throw invalidArgument(`${at("max_attempts")} must be between 1 and 1000 (0 takes the default)`);
  }
  const job: NewJob = {
    queue,
    payload: request.payload,
    headers: request.headers,
    priority: request.priority,
    // Zero means unset: the queue's setting, then the broker's default, apply.
    maxAttempts: request.maxAttempts || undefined,
  };
  if (request.start.case === "runTime") job.runTime = timestampDate(request.start.value);
  if (request.start.case === "delay") {
    const ms = durationMs(request.start.value);
    if (ms < 0) throw invalidArgument(`${at("delay")} must not be negative`);
    job.delaySeconds = ms / 1000;
  }
  if (request.dedupKey !== "") {
    if (request.dedupKey.length > 512) throw invalidArgument(`${at("dedup_key")} is longer than 512 characters`);
    job.dedupKey = request.dedupKey;
  }
  if (request.dedupWindow) {
    if (!job.dedupKey) throw invalidArgument(`${at("dedup_window")} needs a dedup_key`);
    const ms = durationMs(request.dedupWindow);
    if (ms <= 0) throw invalidArgument(`${at("dedup_window")} must be positive`);
    job.dedupWindowSeconds = ms / 1000;
  }
  if (request.fairnessKey !== "") {
    if (request.fairnessKey.length > 256) throw invalidArgument(`${at("fairness_key")} is longer than 256 characters`);
    job.fairnessKey = request.fairnessKey;
  }
  if (request.dependsOn.length > 0) {
    if (request.dependsOn.length > 100) throw invalidArgument(`${at("depends_on")} names more than 100 jobs`);
    job.dependsOn = [...new Set(request.dependsOn.map((id, i) => validateJobId(id, `${at("depends_on")}[${i}]`)))];
  }
  if (request.chainId !== "") job.chainId = validateJobId(request.chainId, at("chain_id"));
  if (request.timeout) {
    const ms = durationMs(request.timeout);
    if (ms <= 0) throw invalidArgument(`${at("timeout")} must be positive`);
    job.timeoutSeconds = ms / 1000;
  }
  return job;
}

function validateHeaders(headers: Record<string, string>, limits: EnqueueLimits, field: string): void {
  const names = Object.keys(headers);
  if (names.length > limits.maxHeaders) {
    throw invalidArgument(`${field} has ${names.length} entries; the limit is ${limits.maxHeaders} (BATON_MAX_HEADERS)`);
  }
  let bytes = 0;
  for (const name of names) {
    if (name === "") throw invalidArgument(`${field} has an empty name`);
    bytes += Buffer.byteLength(name) + Buffer.byteLength(headers[name]!);
  }
  if (bytes > limits.maxHeaderBytes) {
    throw invalidArgument(
      `${field} take ${bytes} bytes (names and values, UTF-8); the limit is ${limits.maxHeaderBytes} (BATON_MAX_HEADER_BYTES)`,
    );
  }
}

/**
 * Longest retry_delay a nack may ask for. Beyond it the run time leaves what PostgreSQL can
 * represent (2^62 s failed the whole batch of nacks), and a year is already "never" for a retry.
 */
export const MAX_RETRY_DELAY_SECONDS = 365 * 24 * 3600;

/** A nack's retry_delay as seconds; `undefined` when unset (the backoff applies). */
export function validateRetryDelay(duration: Duration | undefined, field: string): number | undefined {
  if (!duration) return undefined;
  const ms = durationMs(duration);
  if (!(ms >= 0 && ms <= MAX_RETRY_DELAY_SECONDS * 1000)) {
    throw invalidArgument(`${field} must be between 0 and ${MAX_RETRY_DELAY_SECONDS} seconds (365 days)`);
  }
  return ms / 1000;
}

/** A Duration field as seconds; `undefined` when unset. Rejects zero and negative values. */
export function positiveSeconds(duration: Duration | undefined, field: string): number | undefined {
  if (!duration) return undefined;
  const ms = durationMs(duration);
  if (ms <= 0) throw invalidArgument(`${field} must be positive`);
  return ms / 1000;
}
