import type { Database, Queryable } from "./database.js";
import { BatonError } from "../errors.js";
import { type ClaimedJob, type JobRecord, type LeaseRef, type NewJob, type StoredJobState, leaseKey } from "./job-record.js";
import { type JobRow, toJobRecord } from "./job-row.js";
import { type Now, loadStatements, param, row, run, runPlannedEachTime, statement } from "./statements.js";

export type { Now } from "./statements.js";

const ids = param<string[]>();
const leaseTokens = param<string[]>();
const now = param<Now>();
const limit = param<number>();
const dependsOnResultBytes = param<number>();
/** JobMatches' parameters: a {@link JobSearch} as the statements take it (see searchParams). */
const search = {
  queue: param<string | null>(),
  states: param<SearchState[] | null>(),
  chainId: param<string | null>(),
  ids: param<string[] | null>(),
  headers: param<string | null>(),
  createdAfter: param<Date | null>(),
  createdBefore: param<Date | null>(),
  now,
};

/** The columns of new jobs, as JobInsertMany and JobUpsertMany take them (see newJobArrays). */
const newJobParams = {
  queues: param<string[]>(),
  payloads: param<Buffer[]>(),
  headers: param<string[]>(),
  priorities: param<number[]>(),
  delaySeconds: param<(number | null)[] | null>(),
  runTimes: param<(Date | null)[] | null>(),
  maxAttempts: param<(number | null)[] | null>(),
  dedupKeys: param<(string | null)[] | null>(),
  chainIds: param<(string | null)[] | null>(),
  parentIds: param<(string | null)[] | null>(),
  timeoutSeconds: param<(number | null)[] | null>(),
  now,
  defaultMaxAttempts: param<number>(),
  fairnessKeys: param<(string | null)[] | null>(),
  blocked: param<boolean[] | null>(),
  dependsOn: param<(string | null)[] | null>(),
};

const sql = loadStatements(new URL("./sql/jobs.sql", import.meta.url), {
  JobInsertMany: statement(
    {
      ...newJobParams,
      dedupWindowSeconds: param<(number | null)[] | null>(),
      handoff: param<boolean[] | null>(),
      handoffOwner: param<string | null>(),
      handoffLeaseSeconds: param<number | null>(),
    },
    row<InsertedRow>(),
  ),
  JobUpsertMany: statement({ ...newJobParams, replacePayload: param<boolean[]>() }, row<JobRow & { created: boolean }>()),
  JobDedupWindowRaced: statement({ ids, windowSeconds: param<(number | undefined)[]>(), now }, row<JobRow & { raced_id: string }>()),
  JobDedupWindowUndo: statement({ ids }),
  JobLockBlockers: statement({ ids }, row<{ id: string; state: StoredJobState }>()),
  JobDependencyInsertMany: statement({ jobIds: param<string[]>(), blockerIds: param<string[]>() }),
  JobChainUnfinished: statement({ chainIds: param<string[]>() }, row<{ chain_id: string }>()),
  JobGetUnfinishedByDedupKey: statement({ queues: param<string[]>(), dedupKeys: param<(string | undefined)[]>() }, row<JobRow>()),
  JobGet: statement({ id: param<string>(), now }, row<JobRow>()),
  JobClaim: statement(
    { queues: param<string[]>(), limit, leaseSeconds: param<number>(), owner: param<string>(), now, first: param<number>(), dependsOnResultBytes },
    row<ClaimRow>(),
  ),
  JobClaimLockQueue: statement({ queue: param<string>() }),
  JobClaimLimited: statement(
    { queue: param<string>(), limit, leaseSeconds: param<number>(), owner: param<string>(), now, dependsOnResultBytes },
    row<ClaimRow>(),
  ),
  JobUnclaim: statement({ ids, leaseTokens }, row<{ queue: string }>()),
  JobAckMany: statement({ ids, leaseTokens, results: param<Buffer[]>(), now, workerIds: param<(string | null)[]>() }, row<{ id: string; lease_token: string; queue: string; run_seconds: number }>()),
  JobFailMany: statement(
    {
      ids,
      leaseTokens,
      errors: param<string[]>(),
      retryDelaySeconds: param<(number | null)[]>(),
      retryBaseSeconds: param<number>(),
      retryMaxSeconds: param<number>(),
      deadLetters: param<boolean[]>(),
      now,
      workerIds: param<(string | null)[]>(),
    },
    row<FailRow>(),
  ),
  JobAdoptMany: statement({ ids, leaseTokens, owner: param<string>(), leaseSeconds: param<number>(), now }, row<JobRow>()),
  JobSettleFailureReasons: statement({ ids, leaseTokens }, row<{ id: string; state: StoredJobState | null; token_matches: boolean | null }>()),
  JobProgressMany: statement({ ids, leaseTokens, percents: param<number[]>(), messages: param<string[]>() }),
  JobRenewMany: statement({ ids, leaseTokens, leaseSeconds: param<number>(), now }, row<{ id: string }>()),
  JobFindExpired: statement({ limit, now }, row<{ id: string; lease_token: string; timed_out: boolean }>()),
  JobCancel: statement({ ids, now }, row<{ id: string; queue: string; state: "cancelled" | "leased" }>()),
  JobRetry: statement({ ids, now }, row<JobRow & { refusal: string | null }>()),
  JobRepairDependants: statement({ limit, now }, row<RepairedDependant>()),
  JobListPage: statement({ ...search, limit, beforeId: param<string | null>(), maxBytes: param<number>() }, row<JobRow & { more: boolean }>()),
  JobMatchIds: statement({ ...search, limit, beforeId: param<string | null>() }, row<{ id: string }>()),
  JobDelete: statement({ ids }, row<{ id: string; queue: string }>()),
  JobGetMany: statement({ ids }, row<JobRow>()),
  JobGetFinished: statement({ ids }, row<JobRow>()),
  JobDeleteExpired: statement({ limit, succeededSeconds: param<number>(), deadSeconds: param<number>(), cancelledSeconds: param<number>(), now }),
});

export interface InsertedJob {
  job: JobRecord;
  deduplicated: boolean;
}

/** The jobs an insert created (a deduplicated request names a job created before). */
export function createdJobs(inserted: InsertedJob[]): JobRecord[] {
  return inserted.flatMap(({ job, deduplicated }) => (deduplicated ? [] : [job]));
}

/**
 * Inserts jobs in one statement (all or none) and returns them in request order. A request
 * whose dedup_key matches an unfinished job resolves to that job instead.
 */
/** Attempts of a job whose request and queue name none. */
export const DEFAULT_MAX_ATTEMPTS = 25;

export interface InsertOptions {
  defaultMaxAttempts?: number;
  now?: Now;
  /** Per job: it waits for blockers (see jobInsertWithDependencies). */
  blocked?: boolean[];
  /** Jobs to insert already leased to this replica, for streams waiting for work (see JobInsertMany). */
  handoff?: Handoff;
}

export interface Handoff {
  /** Per job: lease it at insert if it could be claimed at once. */
  jobs: boolean[];
  owner: string;
  leaseSeconds: number;
}

export async function jobInsertMany(db: Queryable | Database, jobs: NewJob[], options: InsertOptions = {}): Promise<InsertedJob[]> {
  const windowed = jobs.some((job) => job.dedupWindowSeconds !== undefined);
  const policed = jobs.some((job) => job.dedupPolicy !== undefined);
  // A dedup window is checked again after the insert, which must then be undone in the same
  // transaction, and a batch with dedup policies takes two statements that stand or fall
  // together: outside a transaction, open one here.
  if ((windowed || policed) && "transaction" in db) return db.transaction((tx) => jobInsertMany(tx, jobs, options));
  if (policed) return insertWithDedupPolicies(db, jobs, options);
  const { defaultMaxAttempts = DEFAULT_MAX_ATTEMPTS, now = null, blocked = [], handoff } = options;
  const payloads = jobs.map((j) => Buffer.from(j.payload));
  const { rows } = await run(db, sql.JobInsertMany, {
    ...newJobArrays(jobs, payloads, blocked),
    dedupWindowSeconds: column(jobs, (j) => j.dedupWindowSeconds),
    now,
    defaultMaxAttempts,
    handoff: handoff?.jobs.some(Boolean) ? handoff.jobs : null,
    handoffOwner: handoff?.owner ?? null,
    handoffLeaseSeconds: handoff?.leaseSeconds ?? null,
  });
  const inserted = await matchInsertedToRequests(db, jobs, rows, (row, i) =>
    toJobRecord({ ...row, ...newJobColumns(), payload: payloads[i]!, headers: jobs[i]!.headers }),
  );
  return windowed ? settleDedupWindowRaces(db, jobs, inserted, now) : inserted;
}

/** The jobs' columns as the array parameters of JobInsertMany and JobUpsertMany. */
function newJobArrays(jobs: NewJob[], payloads: Buffer[], blocked: boolean[]) {
  return {
    queues: jobs.map((j) => j.queue),
    payloads,
    headers: jobs.map((j) => JSON.stringify(j.headers)),
    priorities: jobs.map((j) => j.priority),
    delaySeconds: column(jobs, (j) => j.delaySeconds),
    runTimes: column(jobs, (j) => j.runTime),
    maxAttempts: column(jobs, (j) => j.maxAttempts),
    dedupKeys: column(jobs, (j) => j.dedupKey),
    chainIds: column(jobs, (j) => j.chainId),
    parentIds: column(jobs, (j) => j.parentId),
    timeoutSeconds: column(jobs, (j) => j.timeoutSeconds),
    fairnessKeys: column(jobs, (j) => j.fairnessKey),
    blocked: blocked.some(Boolean) ? jobs.map((_, i) => blocked[i] ?? false) : null,
    dependsOn: column(jobs, (j) => (j.dependsOn?.length ? j.dependsOn.join(",") : undefined)),
  };
}

/**
 * A batch in which some requests carry REPLACE or DEBOUNCE, inside the caller's transaction.
 * Every request whose key one of them names goes through JobUpsertMany; the others, KEEP
 * requests of other keys, through JobInsertMany as any batch does, so that KEEP never pays for
 * the policies. The requests of one key act as if enqueued one after another (see
 * foldRequests): the first that finds no holder creates the job, the others are deduplicated
 * to it.
 */
async function insertWithDedupPolicies(tx: Queryable, jobs: NewJob[], options: InsertOptions): Promise<InsertedJob[]> {
  const groups = new Map<string, number[]>();
  jobs.forEach((job) => {
    if (job.dedupPolicy !== undefined) groups.set(dedupIdentity(job.queue, job.dedupKey!), []);
  });
  const plain: number[] = [];
  jobs.forEach((job, i) => {
    const group = job.dedupKey === undefined ? undefined : groups.get(dedupIdentity(job.queue, job.dedupKey));
    if (group) group.push(i);
    else plain.push(i);
  });
  const results: InsertedJob[] = new Array<InsertedJob>(jobs.length);
  if (plain.length > 0) {
    const pick = <T>(values: T[]) => plain.map((i) => values[i]!);
    const { blocked, handoff } = options;
    const inserted = await jobInsertMany(
      tx,
      pick(jobs),
      { ...options, blocked: blocked && pick(blocked), handoff: handoff && { ...handoff, jobs: pick(handoff.jobs) } },
    );
    plain.forEach((index, k) => (results[index] = inserted[k]!));
  }
  const members = [...groups.values()];
  const upserted = await upsertFolded(tx, members.map((group) => group.map((i) => jobs[i]!)), {
    ...options,
    blocked: members.map((group) => options.blocked?.[group[0]!] ?? false),
  });
  members.forEach((group, k) => {
    const { job, deduplicated } = upserted[k]!;
    group.forEach((index, position) => (results[index] = { job, deduplicated: deduplicated || position > 0 }));
  });
  return results;
}

/**
 * The requests of one (queue, dedup_key) in a batch as one request, the outcome of enqueueing
 * them one after another: the first one's fields, the payload of the last REPLACE and the run
 * time of the last REPLACE or DEBOUNCE. At least one of them carries a policy.
 */
function foldRequests(requests: NewJob[]): NewJob {
  const first = requests[0]!;
  const replacing = requests.findLast((r) => r.dedupPolicy === "replace");
  const moving = requests.findLast((r) => r.dedupPolicy !== undefined)!;
  return { ...first, payload: (replacing ?? first).payload, runTime: moving.runTime, delaySeconds: moving.delaySeconds };
}

/**
 * Upserts one folded request per group (see JobUpsertMany); the answer of each group is the
 * job that now holds its key, deduplicated unless this statement created it. A group whose key
 * a running job holds resolves to that job, unaltered; so does one whose new job a job finished
 * within its dedup window makes redundant (settleDedupWindowRaces takes the new job back).
 */
async function upsertFolded(tx: Queryable, groups: NewJob[][], options: InsertOptions & { blocked: boolean[] }): Promise<InsertedJob[]> {
  const { defaultMaxAttempts = DEFAULT_MAX_ATTEMPTS, now = null, blocked } = options;
  const requests = groups.map(foldRequests);
  const { rows } = await run(tx, sql.JobUpsertMany, {
    ...newJobArrays(requests, requests.map((r) => Buffer.from(r.payload)), blocked),
    now,
    defaultMaxAttempts,
    replacePayload: groups.map((group) => group.some((r) => r.dedupPolicy === "replace")),
  });
  const upserted = new Map(rows.map((row) => [dedupIdentity(row.queue, row.dedup_key!), row]));
  const untouched = requests.filter((r) => !upserted.has(dedupIdentity(r.queue, r.dedupKey!)));
  const holders = untouched.length > 0 ? await jobGetByDedupKeys(tx, untouched) : new Map<string, JobRecord>();
  const results = requests.map((request) => {
    const key = dedupIdentity(request.queue, request.dedupKey!);
    const row = upserted.get(key);
    if (row) return { job: toJobRecord(row), deduplicated: !row.created };
    const holder = holders.get(key);
    // As in matchInsertedToRequests: retention deleted the holder in between.
    if (!holder) throw new Error(`job with dedup_key ${request.dedupKey} vanished during enqueue; retry`);
    return { job: holder, deduplicated: true };
  });
  return requests.some((r) => r.dedupWindowSeconds !== undefined) ? settleDedupWindowRaces(tx, requests, results, now) : results;
}

/** A row of JobInsertMany: the job without what its request holds or every new job starts with. */
type InsertedRow = Omit<JobRow, keyof ReturnType<typeof newJobColumns> | "payload" | "headers">;

/** The columns every job starts with (the defaults of baton.jobs), which the insert does not return. */
function newJobColumns() {
  return {
    finish_time: null,
    progress_percent: 0,
    progress_message: "",
    result: null,
    last_error: "",
    errors: [],
    cancel_requested: false,
  } satisfies Partial<JobRow>;
}

/**
 * The insert checks a dedup window in its own snapshot, so a job of the same key whose ack
 * commits while the insert runs escapes it: the unique index on unfinished jobs makes the
 * insert wait for that ack, and once it committed the job is neither unfinished nor, to the
 * snapshot, finished. The next statement sees it; a job inserted next to it is taken back and
 * the request answered with the existing job, as a deduplicated one.
 */
async function settleDedupWindowRaces(tx: Queryable, jobs: NewJob[], inserted: InsertedJob[], now: Now): Promise<InsertedJob[]> {
  const candidates = inserted.flatMap(({ job, deduplicated }, i) =>
    deduplicated || jobs[i]!.dedupWindowSeconds === undefined ? [] : [{ id: job.id, window: jobs[i]!.dedupWindowSeconds }],
  );
  if (candidates.length === 0) return inserted;
  const { rows } = await run(tx, sql.JobDedupWindowRaced, { ids: candidates.map((c) => c.id), windowSeconds: candidates.map((c) => c.window), now });
  if (rows.length === 0) return inserted;
  await run(tx, sql.JobDedupWindowUndo, { ids: rows.map((row) => row.raced_id) });
  const existing = new Map(rows.map((row) => [row.raced_id, toJobRecord(row)]));
  return inserted.map((result) => {
    const other = existing.get(result.job.id);
    return other ? { job: other, deduplicated: true } : result;
  });
}

/** The ids and tokens of leases as the two array parameters that statements pair up. */
function leaseColumns(leases: LeaseRef[]): { ids: string[]; leaseTokens: string[] } {
  return { ids: leases.map((l) => l.jobId), leaseTokens: leases.map((l) => l.leaseToken) };
}

/**
 * One optional field of every job as an array parameter, or null when no job sets it: most
 * batches set few of the optional fields, and PostgreSQL pads a NULL array with NULLs.
 */
function column<T>(jobs: NewJob[], field: (job: NewJob) => T | undefined): (T | null)[] | null {
  let set = false;
  const values = jobs.map((job) => {
    const value = field(job);
    if (value === undefined || value === null) return null;
    set = true;
    return value;
  });
  return set ? values : null;
}

/**
 * Inserts jobs some of which wait for others (depends_on), inside the caller's transaction:
 * locks the blockers, rejects unknown or failed ones, makes the jobs with an unfinished
 * blocker BLOCKED and records their dependencies. A job can only depend on jobs that exist
 * already, so dependencies never form a cycle.
 */
export async function jobInsertWithDependencies(tx: Queryable, jobs: NewJob[], defaultMaxAttempts: number): Promise<InsertedJob[]> {
  const blockerIds = [...new Set(jobs.flatMap((j) => j.dependsOn ?? []))];
  const { rows } = await run(tx, sql.JobLockBlockers, { ids: blockerIds });
  const states = new Map(rows.map((row) => [row.id, row.state]));
  for (const id of blockerIds) {
    const state = states.get(id);
    if (state === undefined) throw new BatonError("invalid_argument", `depends_on names job ${id}, which does not exist`);
    if (state === "dead" || state === "cancelled") {
      throw new BatonError("failed_precondition", `depends_on names job ${id}, which ended ${state} and will never succeed`);
    }
  }
  const pending = jobs.map((j) => (j.dependsOn ?? []).filter((id) => states.get(id) !== "succeeded"));
  const inserted = await jobInsertMany(tx, jobs, { defaultMaxAttempts, blocked: pending.map((ids) => ids.length > 0) });
  const jobIds: string[] = [];
  const blockers: string[] = [];
  inserted.forEach(({ job, deduplicated }, i) => {
    if (deduplicated) return;
    for (const blocker of pending[i]!) {
      jobIds.push(job.id);
      blockers.push(blocker);
    }
  });
  if (jobIds.length > 0) {
    await run(tx, sql.JobDependencyInsertMany, { jobIds, blockerIds: blockers });
  }
  return inserted;
}

/** The chains among `chainIds` that still have unfinished jobs. */
export async function jobChainUnfinished(db: Queryable, chainIds: string[]): Promise<Set<string>> {
  const { rows } = await run(db, sql.JobChainUnfinished, { chainIds });
  return new Set(rows.map((row) => row.chain_id));
}

/**
 * Rows come back in id order, and ids were drawn in request order, so the inserted rows line
 * up with the requests that were not deduplicated. A request is deduplicated when its key was
 * not inserted, or was inserted by an earlier request of the same batch.
 */
async function matchInsertedToRequests<Row extends Pick<JobRow, "queue" | "dedup_key">>(
  db: Queryable,
  jobs: NewJob[],
  rows: Row[],
  toJob: (row: Row, request: number) => JobRecord,
): Promise<InsertedJob[]> {
  const insertedKeys = new Set(rows.filter((r) => r.dedup_key !== null).map((r) => dedupIdentity(r.queue, r.dedup_key!)));
  const claimedKeys = new Set<string>();
  const results: (InsertedJob | undefined)[] = [];
  const duplicates: number[] = [];
  let next = 0;
  jobs.forEach((job, index) => {
    if (job.dedupKey !== undefined) {
      const key = dedupIdentity(job.queue, job.dedupKey);
      if (!insertedKeys.has(key) || claimedKeys.has(key)) {
        duplicates.push(index);
        results.push(undefined);
        return;
      }
      claimedKeys.add(key);
    }
    results.push({ job: toJob(rows[next++]!, index), deduplicated: false });
  });
  if (duplicates.length > 0) {
    const existing = await jobGetByDedupKeys(db, duplicates.map((i) => jobs[i]!));
    for (const index of duplicates) {
      const job = jobs[index]!;
      const found = existing.get(dedupIdentity(job.queue, job.dedupKey!));
      // The conflicting job was deleted between the insert and this read (retention): rare
      // enough that asking the caller to retry is the honest answer.
      if (!found) throw new Error(`job with dedup_key ${job.dedupKey} vanished during enqueue; retry`);
      results[index] = { job: found, deduplicated: true };
    }
  }
  return results as InsertedJob[];
}

const dedupIdentity = (queue: string, dedupKey: string) => `${queue}\u0000${dedupKey}`;

async function jobGetByDedupKeys(db: Queryable, jobs: NewJob[]): Promise<Map<string, JobRecord>> {
  const { rows } = await run(db, sql.JobGetUnfinishedByDedupKey, { queues: jobs.map((j) => j.queue), dedupKeys: jobs.map((j) => j.dedupKey) });
  return new Map(rows.map((row) => [dedupIdentity(row.queue, row.dedup_key!), toJobRecord(row)]));
}

export async function jobGet(db: Queryable, id: string, now: Now = null): Promise<JobRecord | undefined> {
  const { rows } = await run(db, sql.JobGet, { id, now });
  return rows[0] && toJobRecord(rows[0]);
}

export interface ClaimParams {
  limit: number;
  leaseSeconds: number;
  /** Replica that holds the leases, kept on the row for operators. */
  owner: string;
  now?: Now;
  /**
   * Most bytes of blocker results one claimed dependant carries (BATON_MAX_DEPENDS_ON_RESULT_BYTES);
   * the results past it are omitted (see baton.depends_on_results).
   */
  dependsOnResultBytes?: number;
}

/** BATON_MAX_DEPENDS_ON_RESULT_BYTES' default. */
export const DEFAULT_DEPENDS_ON_RESULT_BYTES = 1024 * 1024;

export interface ClaimResult {
  jobs: ClaimedJob[];
  /** When the next not-yet-due job of the queues becomes due, if any. */
  nextDueTime: Date | null;
  /** A queue has limits: JobClaim refused it, claim it with jobClaimLimited. */
  queueLimited: boolean;
}

/**
 * Claims from queues without limits in one statement: by priority across them, the queues
 * taking turns among equal priorities, the turns starting at the queue at index `first`.
 */
export async function jobClaim(db: Queryable, params: ClaimParams & { queues: string[]; first?: number }): Promise<ClaimResult> {
  const { queues, limit, leaseSeconds, owner, now = null, first = 0, dependsOnResultBytes = DEFAULT_DEPENDS_ON_RESULT_BYTES } = params;
  const { rows } = await run(db, sql.JobClaim, { queues, limit, leaseSeconds, owner, now, first, dependsOnResultBytes });
  return claimResult(rows);
}

/**
 * Claims from a queue with a concurrency, rate or fairness limit: one transaction that first
 * takes the queue's advisory lock, so replicas never over-claim together.
 */
export async function jobClaimLimited(db: Database, params: ClaimParams & { queue: string }): Promise<ClaimResult> {
  return db.transaction(async (tx) => {
    const { queue, limit, leaseSeconds, owner, now = null, dependsOnResultBytes = DEFAULT_DEPENDS_ON_RESULT_BYTES } = params;
    await run(tx, sql.JobClaimLockQueue, { queue });
    const { rows } = await run(tx, sql.JobClaimLimited, { queue, limit, leaseSeconds, owner, now, dependsOnResultBytes });
    return claimResult(rows);
  });
}

interface ClaimRow {
  id: string | null;
  queue: string;
  payload: Buffer;
  headers: Record<string, string>;
  priority: number;
  attempt: number;
  max_attempts: number;
  chain_id: string;
  parent_id: string | null;
  timeout_seconds: number | null;
  lease_token: string;
  lease_expire_time: Date;
  attempt_deadline: Date | null;
  run_time: Date;
  queue_wait_seconds: number;
  traceparent: string;
  /** Null for a job without blockers, as is depends_on_results. */
  depends_on: string[] | null;
  /** Aligned with depends_on; null where omitted. */
  depends_on_results: (Buffer | null)[] | null;
  next_due_time: Date | null;
  queue_limited?: boolean;
}

function claimResult(rows: ClaimRow[]): ClaimResult {
  const jobs: ClaimedJob[] = [];
  for (const row of rows) {
    if (row.id === null) continue;
    jobs.push({
      id: row.id,
      queue: row.queue,
      payload: row.payload,
      headers: row.headers,
      priority: row.priority,
      attempt: row.attempt,
      maxAttempts: row.max_attempts,
      chainId: row.chain_id,
      parentId: row.parent_id,
      timeoutSeconds: row.timeout_seconds,
      leaseToken: row.lease_token,
      leaseExpireTime: row.lease_expire_time,
      attemptDeadline: row.attempt_deadline,
      runTime: row.run_time,
      queueWaitSeconds: row.queue_wait_seconds,
      traceparent: row.traceparent,
      dependsOnResults: (row.depends_on ?? []).map((jobId, i) => ({ jobId, result: row.depends_on_results?.[i] ?? null })),
    });
  }
  return { jobs, nextDueTime: rows[0]?.next_due_time ?? null, queueLimited: rows[0]?.queue_limited ?? false };
}

/** Whole rows, for the claimed jobs of streams that take full jobs. */
export async function jobGetMany(db: Queryable, ids: string[]): Promise<JobRecord[]> {
  const { rows } = await run(db, sql.JobGetMany, { ids });
  return rows.map(toJobRecord);
}

/** Returns the queues of the jobs given back. */
export async function jobUnclaim(db: Queryable, leases: LeaseRef[]): Promise<string[]> {
  const { rows } = await run(db, sql.JobUnclaim, leaseColumns(leases));
  return rows.map((row) => row.queue);
}

export interface Ack extends LeaseRef {
  result: Uint8Array;
  /** The worker that ended the attempt (hello.worker_id), for its span. */
  workerId?: string;
}

/** An attempt that ended: its queue and how long it ran (for the metrics). */
export interface EndedAttempt {
  queue: string;
  runSeconds: number;
}

/** Returns the leases (as leaseKey) that were settled; the others were refused by the fence. */
export interface AckOutcome {
  /** leaseKey of each settled lease; the others were refused by the fence. */
  settled: Set<string>;
  /** Queues of the settled jobs, to announce on baton_finished once committed. */
  queues: Set<string>;
  /** The attempts that succeeded. */
  ended: EndedAttempt[];
}

export async function jobAckMany(db: Queryable, acks: Ack[], now: Now = null): Promise<AckOutcome> {
  const { rows } = await run(db, sql.JobAckMany, {
    ...leaseColumns(acks),
    results: acks.map((a) => Buffer.from(a.result)),
    now,
    workerIds: acks.map((a) => a.workerId ?? null),
  });
  return {
    settled: new Set(rows.map((row) => leaseKey({ jobId: row.id, leaseToken: row.lease_token }))),
    queues: new Set(rows.map((row) => row.queue)),
    ended: rows.map((row) => ({ queue: row.queue, runSeconds: row.run_seconds })),
  };
}

export interface Failure extends LeaseRef {
  error: string;
  /** Delay before the next attempt; undefined takes the backoff. */
  retryDelaySeconds?: number;
  /** No further attempts. */
  deadLetter: boolean;
  /** The worker that ended the attempt (hello.worker_id), for its span; unset when none did. */
  workerId?: string;
}

export interface RetryPolicy {
  baseDelaySeconds: number;
  maxDelaySeconds: number;
}

export interface FailOutcome extends EndedAttempt, LeaseRef {
  state: StoredJobState;
  runTime: Date;
  /** The lease had expired, or the attempt had outlived its timeout. */
  leaseRanOut: boolean;
}

interface FailRow {
  id: string;
  lease_token: string;
  queue: string;
  state: StoredJobState;
  run_time: Date;
  run_seconds: number;
  lease_ran_out: boolean;
}

/** Settles failed attempts (nack, released stream, timeout, expired lease) in one statement. */
export async function jobFailMany(db: Queryable, failures: Failure[], policy: RetryPolicy, now: Now = null): Promise<FailOutcome[]> {
  const { rows } = await run(db, sql.JobFailMany, {
    ...leaseColumns(failures),
    errors: failures.map((f) => f.error),
    retryDelaySeconds: failures.map((f) => f.retryDelaySeconds ?? null),
    retryBaseSeconds: policy.baseDelaySeconds,
    retryMaxSeconds: policy.maxDelaySeconds,
    deadLetters: failures.map((f) => f.deadLetter),
    now,
    workerIds: failures.map((f) => f.workerId ?? null),
  });
  return rows.map((row) => ({
    jobId: row.id,
    leaseToken: row.lease_token,
    queue: row.queue,
    state: row.state,
    runTime: row.run_time,
    runSeconds: row.run_seconds,
    leaseRanOut: row.lease_ran_out,
  }));
}

/** Gives leases held before a reconnect to this replica, each with a fresh token. */
export async function jobAdoptMany(db: Queryable, leases: LeaseRef[], owner: string, leaseSeconds: number, now: Now = null): Promise<JobRecord[]> {
  const { rows } = await run(db, sql.JobAdoptMany, { ...leaseColumns(leases), owner, leaseSeconds, now });
  return rows.map(toJobRecord);
}

/** Explains, for settlements the fence refused, why each one was refused. */
export async function jobSettleFailureReasons(db: Queryable, leases: LeaseRef[]): Promise<Map<string, string>> {
  const { rows } = await run(db, sql.JobSettleFailureReasons, leaseColumns(leases));
  return new Map(
    rows.map((row) => {
      if (row.state === null) return [row.id, `job ${row.id} does not exist`];
      if (row.state !== "leased") return [row.id, `job ${row.id} is no longer leased (it is ${row.state})`];
      return [row.id, `stale lease token: job ${row.id} was leased again`];
    }),
  );
}

export interface ProgressUpdate extends LeaseRef {
  percent: number;
  message: string;
}

export async function jobProgressMany(db: Queryable, updates: ProgressUpdate[]): Promise<void> {
  await run(db, sql.JobProgressMany, { ...leaseColumns(updates), percents: updates.map((u) => u.percent), messages: updates.map((u) => u.message) });
}

/** Renews the leases in one statement; returns the ids still held. */
export async function jobRenewMany(db: Queryable, leases: LeaseRef[], leaseSeconds: number, now: Now = null): Promise<Set<string>> {
  const { rows } = await run(db, sql.JobRenewMany, { ...leaseColumns(leases), leaseSeconds, now });
  return new Set(rows.map((row) => row.id));
}

export interface ExpiredLease extends LeaseRef {
  /** The attempt ran past its timeout (else its replica stopped renewing). */
  timedOut: boolean;
}

export async function jobFindExpired(db: Queryable, limit: number, now: Now = null): Promise<ExpiredLease[]> {
  const { rows } = await run(db, sql.JobFindExpired, { limit, now });
  return rows.map((row) => ({ jobId: row.id, leaseToken: row.lease_token, timedOut: row.timed_out }));
}

/** A job a cancel changed, and its state after: cancelled, or leased and asked to stop. */
export interface CancelledJob {
  id: string;
  queue: string;
  state: "cancelled" | "leased";
}

/**
 * Cancels the jobs of `ids` that are unfinished (see JobCancel); returns those it changed.
 * Finished jobs, and leased ones already asked to stop, are left alone.
 */
export async function jobCancel(db: Queryable, ids: string[], now: Now = null): Promise<CancelledJob[]> {
  const { rows } = await run(db, sql.JobCancel, { ids, now });
  return rows.map(({ id, queue, state }) => ({ id, queue, state }));
}

export interface RetryOutcome {
  /** Jobs revived: AVAILABLE, or BLOCKED while a blocker has not succeeded. */
  revived: JobRecord[];
  /** Jobs left as they were, with the reason (a missing blocker, a dedup_key held elsewhere). */
  refused: { id: string; reason: string }[];
}

/** A retry that lost a race for a dedup_key is run again this often before giving up. */
const RETRY_DEDUP_RACES = 3;

/** Revives the DEAD or CANCELLED jobs of `ids` with a fresh attempt budget; see JobRetry. */
export async function jobRetry(db: Queryable, ids: string[], now: Now = null): Promise<RetryOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { rows } = await run(db, sql.JobRetry, { ids, now });
      return {
        revived: rows.filter((row) => row.refusal === null).map(toJobRecord),
        refused: rows.flatMap((row) => (row.refusal === null ? [] : [{ id: row.id, reason: row.refusal }])),
      };
    } catch (error) {
      // A job took one of the keys after the statement's snapshot: the next run sees it and
      // refuses the job that wanted the key.
      const { code, constraint } = error as { code?: string; constraint?: string };
      if (code !== "23505" || constraint !== "jobs_dedup_idx") throw error;
      if (attempt === RETRY_DEDUP_RACES) {
        throw new BatonError("unavailable", "jobs kept taking the dedup_keys of the jobs to retry while they were revived; retry the call");
      }
    }
  }
}

/** Deletes the jobs of `ids` that are not leased (see JobDelete); returns those it deleted. */
export async function jobDelete(db: Queryable, ids: string[]): Promise<{ id: string; queue: string }[]> {
  const { rows } = await run(db, sql.JobDelete, { ids });
  return rows;
}

export interface RepairedDependant {
  id: string;
  queue: string;
  state: StoredJobState;
}

/**
 * Repairs up to `limit` BLOCKED jobs that have nothing left to wait for (see
 * baton.repair_dependants in 0007_dependants.sql): AVAILABLE when every blocker succeeded,
 * CANCELLED when a blocker no longer exists.
 */
export async function jobRepairDependants(db: Queryable, limit: number, now: Now = null): Promise<RepairedDependant[]> {
  const { rows } = await run(db, sql.JobRepairDependants, { limit, now });
  return rows;
}

/** A stored state, or "scheduled": AVAILABLE with a run_time still to come. */
export type SearchState = StoredJobState | "scheduled";

/** Which jobs a search matches: all of the fields set (see JobFilter in job.proto). */
export interface JobSearch {
  queue?: string;
  /** Any of these; "available" then means AVAILABLE with its run_time passed. */
  states?: SearchState[];
  chainId?: string;
  ids?: string[];
  /** Every one of these headers, with exactly this value. */
  headers?: Record<string, string>;
  /** Created at or after this time. */
  createdAfter?: Date;
  /** Created before this time. */
  createdBefore?: Date;
  /** What tells scheduled from available jobs; null or absent means database time. */
  now?: Now;
}

function searchParams(filter: JobSearch) {
  return {
    queue: filter.queue ?? null,
    states: filter.states ?? null,
    chainId: filter.chainId ?? null,
    ids: filter.ids ?? null,
    headers: filter.headers === undefined ? null : JSON.stringify(filter.headers),
    createdAfter: filter.createdAfter ?? null,
    createdBefore: filter.createdBefore ?? null,
    now: filter.now ?? null,
  };
}

export interface PageOptions {
  limit: number;
  /** Most bytes of payloads, results, headers, errors and progress in the page; the first job is always included. */
  maxBytes: number;
  /** Only jobs with a smaller id: the last id of the previous page. */
  beforeId?: string;
}

export interface JobPage {
  jobs: JobRecord[];
  /** Whether jobs follow the last of this page (it was cut by the limit or by bytes). */
  more: boolean;
}

/** A page of the jobs matching `filter`, newest first; planned for its filter each time. */
export async function jobListPage(db: Queryable, filter: JobSearch, page: PageOptions): Promise<JobPage> {
  const { rows } = await runPlannedEachTime(db, sql.JobListPage, {
    ...searchParams(filter),
    limit: page.limit,
    beforeId: page.beforeId ?? null,
    maxBytes: page.maxBytes,
  });
  return { jobs: rows.map(toJobRecord), more: rows.at(-1)?.more ?? false };
}

/**
 * The ids of the jobs matching `filter`, newest first, in batches of at most `batchSize`, each
 * read when the previous one has been handled: a bulk operation works through them one batch
 * (one short transaction) at a time. It ends below the newest id of its first batch, so jobs
 * created meanwhile are left out and it always ends.
 */
export async function* jobMatchBatches(db: Queryable, filter: JobSearch, batchSize: number): AsyncGenerator<string[]> {
  const params = searchParams(filter);
  let beforeId: string | null = null;
  for (;;) {
    const { rows }: { rows: { id: string }[] } = await runPlannedEachTime(db, sql.JobMatchIds, { ...params, limit: batchSize, beforeId });
    if (rows.length === 0) return;
    yield rows.map((row) => row.id);
    if (rows.length < batchSize) return;
    beforeId = rows.at(-1)!.id;
  }
}

export async function jobGetFinished(db: Queryable, ids: string[]): Promise<JobRecord[]> {
  const { rows } = await run(db, sql.JobGetFinished, { ids });
  return rows.map(toJobRecord);
}

export interface Retention {
  succeededSeconds: number;
  deadSeconds: number;
  cancelledSeconds: number;
}

/** Deletes up to `limit` finished jobs past their retention; returns how many. */
export async function jobDeleteExpired(db: Queryable, limit: number, retention: Retention, now: Now = null): Promise<number> {
  const result = await run(db, sql.JobDeleteExpired, {
    limit,
    succeededSeconds: retention.succeededSeconds,
    deadSeconds: retention.deadSeconds,
    cancelledSeconds: retention.cancelledSeconds,
    now,
  });
  return result.rowCount ?? 0;
}
