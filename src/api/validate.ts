import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { DedupPolicy, type EnqueueJobRequest } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { BatonError, invalidArgument } from "../errors.js";
import type { DedupPolicy as StoredDedupPolicy, NewJob } from "../store/job-record.js";

/** Same rule as the jobs table's queue_name_valid constraint. */
const QUEUE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const JOB_ID = /^[1-9][0-9]{0,18}$/;
const MAX_BIGINT = 9223372036854775807n;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Same bounds as the jobs table's dedup_key_length and fairness_key_length constraints (as bytes, never more characters). */
const MAX_DEDUP_KEY_BYTES = 512;
const MAX_FAIRNESS_KEY_BYTES = 256;
/**
 * Longest Duration accepted anywhere: 100 years. Binary protobuf carries any int64 seconds (the
 * JSON form alone checks the spec's 10,000 years), and PostgreSQL overflows well before that:
 * an interval of 2^62 s, or a dedup window reaching back past 4713 BC. No queue setting or job
 * needs more than a century.
 */
const MAX_DURATION_SECONDS = 100 * 365.25 * 86_400;
/** A Timestamp's range by the protobuf spec: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

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

/** Whether `id` is a job id: a positive PostgreSQL bigint in decimal. */
export function isJobId(id: string): boolean {
  return JOB_ID.test(id) && BigInt(id) <= MAX_BIGINT;
}

/**
 * A report's text (a nack's error, a progress message) for the database: refused like
 * validateText if the database cannot store it, else cut to `maxBytes` of UTF-8 at a character
 * boundary. The start of a long stack trace says more than a refusal would.
 */
export function reportText(value: string, field: string, maxBytes: number): string {
  validateText(value, field, Infinity);
  if (Buffer.byteLength(value) <= maxBytes) return value;
  // Decoding a cut that splits a character yields U+FFFD at the end; dropping it keeps the rest.
  return Buffer.from(value).subarray(0, maxBytes).toString().replace(/\uFFFD+$/, "");
}

export function validateJobId(id: string, field = "id"): string {
  if (id === "") throw invalidArgument(`${field} must not be empty`);
  if (!isJobId(id)) throw invalidArgument(`${field} "${id.slice(0, 40)}" is not a job id`);
  return id;
}

export function validateLeaseToken(token: string): string {
  if (!UUID.test(token)) throw invalidArgument(`lease_token "${token.slice(0, 40)}" is not a lease token`);
  return token;
}

/** A job's (or a schedule's) payload, within BATON_MAX_PAYLOAD_BYTES. */
export function validatePayload(payload: Uint8Array, limits: EnqueueLimits, field: string): void {
  if (payload.byteLength > limits.maxPayloadBytes) {
    throw new BatonError(
      "resource_exhausted",
      `${field} is ${payload.byteLength} bytes; the limit is ${limits.maxPayloadBytes} (BATON_MAX_PAYLOAD_BYTES)`,
    );
  }
}

/** max_attempts of a job or schedule: 0 takes the default. */
export function validateMaxAttempts(value: number, field: string): void {
  if (value < 0 || value > 1000) throw invalidArgument(`${field} must be between 1 and 1000 (0 takes the default)`);
}

/** Most jobs one job may wait for: depends_on and depends_on_index together. */
export const MAX_BLOCKERS_PER_JOB = 100;

/**
 * One job to create. `position` is its index in an EnqueueJobs (or EnqueueJobsStream batch)
 * request, the only place where depends_on_index may name other jobs.
 */
export function validateEnqueue(request: EnqueueJobRequest, limits: EnqueueLimits, field?: string, position?: number): NewJob {
  /** Names a field as the caller sent it: "queue" for one job, "jobs[3].queue" in a batch. */
  const at = (name: string) => (field ? `${field}.${name}` : name);
  const queue = validateQueueName(request.queue, at("queue"));
  validatePayload(request.payload, limits, at("payload"));
  validateHeaders(request.headers, limits, at("headers"));
  validateMaxAttempts(request.maxAttempts, at("max_attempts"));
  const job: NewJob = {
    queue,
    payload: request.payload,
    headers: request.headers,
    priority: request.priority,
    // Zero means unset: the queue's setting, then the broker's default, apply.
    maxAttempts: request.maxAttempts || undefined,
  };
  if (request.start.case === "runTime") job.runTime = timestampToDate(request.start.value, at("run_time"));
  if (request.start.case === "delay") {
    const seconds = durationSeconds(request.start.value, at("delay"));
    if (seconds < 0) throw invalidArgument(`${at("delay")} must not be negative`);
    job.delaySeconds = seconds;
  }
  if (request.dedupKey !== "") job.dedupKey = validateText(request.dedupKey, at("dedup_key"), MAX_DEDUP_KEY_BYTES);
  if (request.dedupWindow) {
    if (!job.dedupKey) throw invalidArgument(`${at("dedup_window")} needs a dedup_key`);
    job.dedupWindowSeconds = positiveSeconds(request.dedupWindow, at("dedup_window"));
  }
  const dedupPolicy = validateDedupPolicy(request.dedupPolicy, at("dedup_policy"));
  if (request.dedupPolicy !== DedupPolicy.UNSPECIFIED && !job.dedupKey) throw invalidArgument(`${at("dedup_policy")} needs a dedup_key`);
  if (dedupPolicy) job.dedupPolicy = dedupPolicy;
  if (request.fairnessKey !== "") job.fairnessKey = validateText(request.fairnessKey, at("fairness_key"), MAX_FAIRNESS_KEY_BYTES);
  if (request.dependsOn.length > 0) {
    if (request.dependsOn.length > MAX_BLOCKERS_PER_JOB) throw invalidArgument(`${at("depends_on")} names more than ${MAX_BLOCKERS_PER_JOB} jobs`);
    job.dependsOn = [...new Set(request.dependsOn.map((id, i) => validateJobId(id, `${at("depends_on")}[${i}]`)))];
  }
  if (request.dependsOnIndex.length > 0) job.dependsOnIndex = validateDependsOnIndex(request, at("depends_on_index"), position);
  if (request.chainId !== "") job.chainId = validateJobId(request.chainId, at("chain_id"));
  if (request.timeout) job.timeoutSeconds = positiveSeconds(request.timeout, at("timeout"));
  return job;
}

/**
 * depends_on_index of the job at `position` of its request: each entry the position of an
 * earlier job, so that a request is a DAG listed in topological order and can hold no cycle.
 */
function validateDependsOnIndex(request: EnqueueJobRequest, field: string, position: number | undefined): number[] {
  if (position === undefined) {
    throw invalidArgument(`${field} is only allowed in EnqueueJobs, where it names other jobs of the same request; use depends_on with job ids here`);
  }
  const blockers = request.dependsOn.length + request.dependsOnIndex.length;
  if (blockers > MAX_BLOCKERS_PER_JOB) {
    throw invalidArgument(`depends_on and ${field} name ${blockers} jobs together; the limit is ${MAX_BLOCKERS_PER_JOB}`);
  }
  request.dependsOnIndex.forEach((index, k) => {
    if (index === position) throw invalidArgument(`${field}[${k}] is ${index}, this job's own position: a job cannot wait for itself`);
    if (index < 0 || index > position) {
      const range = position === 0 ? "the first job can wait for no other job of the request" : position === 1 ? "use 0" : `use 0 to ${position - 1}`;
      throw invalidArgument(`${field}[${k}] is ${index}: it must name an earlier job of the request (${range}), so that the jobs form no cycle`);
    }
  });
  return [...new Set(request.dependsOnIndex)];
}

/** The policies besides KEEP, which is the default and needs nothing of the store. */
const storedDedupPolicies: Partial<Record<DedupPolicy, StoredDedupPolicy>> = {
  [DedupPolicy.REPLACE]: "replace",
  [DedupPolicy.DEBOUNCE]: "debounce",
};

/** dedup_policy as the store takes it: undefined for KEEP. Open enums carry any number, so this checks. */
function validateDedupPolicy(policy: DedupPolicy, field: string): StoredDedupPolicy | undefined {
  if (policy === DedupPolicy.UNSPECIFIED || policy === DedupPolicy.KEEP) return undefined;
  const stored = storedDedupPolicies[policy];
  if (!stored) throw invalidArgument(`${field} ${policy} is not a DedupPolicy (use DEDUP_POLICY_KEEP, _REPLACE or _DEBOUNCE)`);
  return stored;
}

/**
 * Headers of a job or a schedule (which becomes jobs): each name and value is text bound for
 * the database, and together they are bounded like a job's. Errors name the header as
 * `jobs[3].headers["x"]`.
 */
export function validateHeaders(headers: Record<string, string>, limits: EnqueueLimits, field: string): void {
  const names = Object.keys(headers);
  if (names.length > limits.maxHeaders) {
    throw invalidArgument(`${field} has ${names.length} entries; the limit is ${limits.maxHeaders} (BATON_MAX_HEADERS)`);
  }
  let bytes = 0;
  for (const name of names) {
    const label = `${field}[${JSON.stringify(name.slice(0, 64))}]`;
    if (name === "") throw invalidArgument(`${field} has an empty name`);
    validateText(name, `${label} (the name)`, limits.maxHeaderBytes);
    validateText(headers[name]!, label, limits.maxHeaderBytes);
    bytes += Buffer.byteLength(name) + Buffer.byteLength(headers[name]!);
  }
  if (bytes > limits.maxHeaderBytes) {
    throw invalidArgument(
      `${field} take ${bytes} bytes (names and values, UTF-8); the limit is ${limits.maxHeaderBytes} (BATON_MAX_HEADER_BYTES)`,
    );
  }
}

/**
 * A Duration field as seconds. Binary protobuf does not check a Duration, so this does: nanos
 * within ±999,999,999 and of the sign of seconds, and at most 100 years either way.
 */
export function durationSeconds(duration: Duration, field: string): number {
  const { seconds, nanos } = duration;
  if (nanos <= -1e9 || nanos >= 1e9 || (seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) {
    throw invalidArgument(`${field} is not a valid Duration: nanos ${nanos} must lie within ±999999999 and have the sign of seconds (${seconds})`);
  }
  const value = Number(seconds) + nanos / 1e9;
  if (Math.abs(value) > MAX_DURATION_SECONDS) {
    throw invalidArgument(`${field} is ${seconds}s; a duration must lie within ±${MAX_DURATION_SECONDS}s (100 years)`);
  }
  return value;
}

/**
 * Longest retry_delay a nack may ask for. Beyond it the run time leaves what PostgreSQL can
 * represent (2^62 s failed the whole batch of nacks), and a year is already "never" for a retry.
 */
export const MAX_RETRY_DELAY_SECONDS = 365 * 24 * 3600;

/** A nack's retry_delay as seconds; `undefined` when unset (the backoff applies). */
export function validateRetryDelay(duration: Duration | undefined, field: string): number | undefined {
  if (!duration) return undefined;
  // Checked on the whole seconds, before the generic Duration checks, so that a huge value is
  // refused with this field's own bounds.
  if (duration.seconds < 0n || duration.seconds >= BigInt(MAX_RETRY_DELAY_SECONDS)) {
    throw invalidArgument(`${field} must be between 0 and ${MAX_RETRY_DELAY_SECONDS} seconds (365 days)`);
  }
  return durationSeconds(duration, field);
}

/**
 * A Duration field as seconds; `undefined` when unset. Rejects zero and negative values, and
 * those under a microsecond: PostgreSQL intervals round to microseconds, so 1 ns would be
 * stored as zero and break the tables' "positive" constraints.
 */
export function positiveSeconds(duration: Duration | undefined, field: string): number | undefined {
  if (!duration) return undefined;
  const seconds = durationSeconds(duration, field);
  if (seconds <= 0) throw invalidArgument(`${field} must be positive`);
  if (seconds < 1e-6) throw invalidArgument(`${field} must be at least 1 microsecond`);
  return seconds;
}

/**
 * A Timestamp field as a Date. Binary protobuf does not check a Timestamp either: beyond
 * year 9999 (or before year 1) it is refused here, as the JSON form refuses it, rather than
 * becoming an invalid Date that PostgreSQL cannot parse.
 */
export function timestampToDate(timestamp: Timestamp, field: string): Date {
  const { seconds, nanos } = timestamp;
  if (nanos < 0 || nanos >= 1e9) throw invalidArgument(`${field} is not a valid Timestamp: nanos ${nanos} must lie within 0 and 999999999`);
  if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) {
    throw invalidArgument(`${field} is ${seconds}s since the epoch; a Timestamp must lie within 0001-01-01 and 9999-12-31 (UTC)`);
  }
  return new Date(Number(seconds) * 1000 + Math.floor(nanos / 1e6));
}
