import { BatonError, type BatonErrorCode } from "../errors.js";
import type { Database } from "../store/database.js";
import { type LeaseRef, type NewJob, leaseKey } from "../store/job-record.js";
import {
  type Ack,
  type Failure,
  type ProgressUpdate,
  type RetryPolicy,
  createdJobs,
  jobAckMany,
  jobFailMany,
  jobInsertMany,
  jobInsertWithDependencies,
  jobProgressMany,
  jobSettleFailureReasons,
} from "../store/jobs.js";
import type { JobMetrics } from "../telemetry/job-metrics.js";
import type { Logger } from "../util/log.js";
import { WriteBatcher } from "../util/write-batcher.js";
import type { Session } from "./session.js";

export interface CompleterOptions {
  db: Database;
  log: Logger;
  retryPolicy: RetryPolicy;
  defaultMaxAttempts: number;
  /** Observes every settlement written, and the continuations created. */
  metrics: JobMetrics;
  /** Queues that got runnable jobs from a settlement (a retry due now, a continuation). */
  onJobsRunnable(queues: Iterable<string>): void;
  /** Queues whose jobs were settled, once the settlement committed (baton_finished). */
  onJobsSettled(queues: Iterable<string>): void;
  /** A stream's settlements were answered: the leases they held are gone, room for more jobs. */
  onLeasesReleased(session: Session): void;
}

interface Pending<T> {
  session: Session;
  item: T;
  /**
   * Set on the failure that stands for a settlement the broker refused: the worker is told this
   * reason (ok=false) once the failure is written, whatever the outcome.
   */
  refusal?: string;
}

export interface AckWithContinuation extends Ack {
  continueWith: NewJob[];
}

/**
 * Settle statements of one kind in flight at once: few enough that under load acks gather into
 * big batches instead of piling up on the pool, more than one so that an ack waiting on a row
 * lock held elsewhere does not hold back every ack after it.
 */
const SETTLE_WRITES = 2;

/**
 * Coalesces the acks, nacks and progress reports of all streams into one statement per kind,
 * a bounded number in flight (SETTLE_WRITES): what arrives meanwhile is the next batch. Acks
 * that carry continuations settle one by one, each in a transaction with the jobs it creates,
 * because the completion and the next jobs must commit together.
 */
export class Completer {
  private readonly acks = new WriteBatcher<Pending<Ack>>((batch) => this.settleAcks(batch), SETTLE_WRITES);
  private readonly failures = new WriteBatcher<Pending<Failure>>((batch) => this.settleFailures(batch), SETTLE_WRITES);
  private readonly progress = new WriteBatcher<ProgressUpdate>((batch) => this.writeProgress(batch));
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: CompleterOptions) {}

  ack(session: Session, ack: Ack): void {
    this.acks.add({ session, item: ack });
  }

  fail(session: Session, failure: Failure): void {
    this.failures.add({ session, item: failure });
  }

  /**
   * An ack or nack refused for what it carries (text the database cannot store, a bad
   * continuation, a retry delay out of range): the attempt fails with the reason in the job's
   * error history, and takes the queue's backoff, as if the worker had nacked; the worker is
   * answered ok=false with the reason. Stock clients forget a job once it is settled, so the
   * lease must end here; failing the attempt records why, where a lapsed lease would say only
   * "lease expired".
   */
  failRefused(session: Session, lease: LeaseRef, reason: string): void {
    this.failures.add({ session, item: { ...lease, error: `settlement refused: ${reason}`, deadLetter: false }, refusal: reason });
  }

  reportProgress(update: ProgressUpdate): void {
    this.progress.add(update);
  }

  ackWithContinuation(session: Session, ack: AckWithContinuation): void {
    const work = this.settleAckWithContinuation(session, ack);
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Resolves when every settlement received so far has been written and answered. */
  async drain(): Promise<void> {
    await Promise.all([this.acks.drain(), this.failures.drain(), this.progress.drain(), ...this.inFlight]);
  }

  private settleAcks(acks: Pending<Ack>[]): Promise<void> {
    return this.settleBatch(acks, async (items) => {
      const { settled, queues, ended } = await jobAckMany(this.options.db, items);
      this.options.metrics.acked(ended);
      this.options.onJobsSettled(queues);
      return settled;
    });
  }

  private settleFailures(nacks: Pending<Failure>[]): Promise<void> {
    return this.settleBatch(nacks, async (items) => {
      const outcomes = await jobFailMany(this.options.db, items, this.options.retryPolicy);
      this.options.metrics.failed(outcomes);
      this.options.onJobsSettled(outcomes.map((o) => o.queue));
      const runnable = outcomes.filter((o) => o.state === "available").map((o) => o.queue);
      if (runnable.length > 0) this.options.onJobsRunnable(runnable);
      return new Set(outcomes.map((o) => leaseKey(o)));
    });
  }

  /**
   * Writes a batch in one statement (`write` returns the leaseKeys it settled). Settlements are
   * validated before they are batched, but should the database still refuse the statement for
   * what it carries, its members are written one by one: only the bad one is refused, with the
   * reason, and the others it was coalesced with are settled. Any other failure (the database
   * is unreachable) fails the batch, as retrying each member would fail the same way.
   */
  private async settleBatch<T extends Ack | Failure>(pending: Pending<T>[], write: (items: T[]) => Promise<Set<string>>): Promise<void> {
    let settled: Set<string>;
    let written = pending;
    try {
      settled = await write(pending.map(withWorker));
    } catch (error) {
      if (!refusedForContent(error)) return this.failAll(pending, error);
      if (pending.length === 1) return this.refuse(pending[0]!, refusal(error));
      this.options.log.warn("a settlement batch was refused; writing its members one by one", { error, count: pending.length });
      settled = new Set();
      written = [];
      for (const [i, member] of pending.entries()) {
        try {
          for (const key of await write([withWorker(member)])) settled.add(key);
          written.push(member);
        } catch (memberError) {
          if (refusedForContent(memberError)) {
            this.refuse(member, refusal(memberError));
            continue;
          }
          // The database itself failed: the members left would each wait out the same failure.
          this.failAll(pending.slice(i), memberError);
          break;
        }
      }
    }
    try {
      await this.answer(written, settled);
    } catch (error) {
      this.failAll(written, error);
    }
  }

  private async settleAckWithContinuation(session: Session, ack: AckWithContinuation): Promise<void> {
    const pending = { session, item: ack };
    try {
      const { settled, queues, ended, continuations } = await this.options.db.transaction(async (tx) => {
        const done = await jobAckMany(tx, [withWorker(pending)]);
        // Refused by the fence: create nothing, the ack changes nothing.
        if (done.settled.size === 0) return { ...done, continuations: [] };
        const { defaultMaxAttempts } = this.options;
        const inserted = ack.continueWith.some((job) => job.dependsOn?.length)
          ? await jobInsertWithDependencies(tx, ack.continueWith, defaultMaxAttempts)
          : await jobInsertMany(tx, ack.continueWith, { defaultMaxAttempts });
        return { ...done, continuations: createdJobs(inserted) };
      });
      this.options.metrics.acked(ended);
      this.options.metrics.enqueued(continuations);
      this.options.onJobsSettled(queues);
      if (settled.size === 1) this.options.onJobsRunnable(ack.continueWith.map((job) => job.queue));
      await this.answer([pending], settled);
    } catch (error) {
      // A continuation the database refuses (a blocker that does not exist, a value it cannot
      // store) is this ack's own fault: say why instead of "could not be written".
      if (refusedForContent(error)) this.refuse(pending, `ack.continue_with: ${refusal(error)}`);
      else this.failAll([pending], error);
    }
  }

  private async writeProgress(reports: ProgressUpdate[]): Promise<void> {
    // Only the latest report per job is written.
    const updates = [...new Map(reports.map((update) => [update.jobId, update])).values()];
    try {
      await jobProgressMany(this.options.db, updates);
    } catch (error) {
      // Progress is advisory; the next report carries the latest state anyway.
      this.options.log.warn("progress write failed", { error, jobs: updates.length });
    }
  }

  /** Answers each settlement: ok for those written, the fence's reason for the others. */
  private async answer(pending: Pending<Ack | Failure>[], settled: Set<string>): Promise<void> {
    const refused = pending.filter((p) => !settled.has(leaseKey(p.item)));
    const reasons = refused.length > 0 ? await jobSettleFailureReasons(this.options.db, refused.map((p) => p.item)) : new Map<string, string>();
    const sessions = new Set<Session>();
    for (const { session, item, refusal } of pending) {
      const ok = settled.has(leaseKey(item));
      // A refused settlement of a lease the session still holds means the lease is gone.
      if (ok || session.holds(item)) session.forget(item.jobId);
      if (refusal !== undefined) session.sink.settled(item.jobId, false, refusal);
      else session.sink.settled(item.jobId, ok, ok ? "" : (reasons.get(item.jobId) ?? "lease not held"));
      sessions.add(session);
    }
    for (const session of sessions) this.options.onLeasesReleased(session);
  }

  /**
   * A settlement the database refused for what it carries: nothing was written, so the attempt
   * fails with the reason (see failRefused). Should even that failure be refused, the lease is
   * no longer renewed, as for failAll, and the job runs again once it expires.
   */
  private refuse({ session, item, refusal }: Pending<Ack | Failure>, reason: string): void {
    if (refusal === undefined) return this.failRefused(session, { jobId: item.jobId, leaseToken: item.leaseToken }, reason);
    if (session.holds(item)) session.forget(item.jobId);
    session.sink.settled(item.jobId, false, refusal);
  }

  private failAll(pending: Pending<Ack | Failure>[], error: unknown): void {
    this.options.log.error("settling failed", { error, count: pending.length });
    // Nothing was written. The lease is no longer renewed, so it expires and the job runs
    // again: at-least-once, never stuck behind a worker that will not resend.
    for (const { session, item } of pending) {
      if (session.holds(item)) session.forget(item.jobId);
      session.sink.settled(item.jobId, false, "settlement could not be written; the job will be retried");
    }
  }
}

/**
 * SQLSTATE classes of a statement refused for the data it carries: data exceptions (22: a NUL
 * byte, a value out of range), integrity violations (23), program limits (54). Retrying the
 * same data fails the same way; other errors (connections, timeouts) say nothing of the data.
 */
const CONTENT_SQLSTATE = /^(22|23|54)/;

/** Domain errors that speak of the database's state, not of what the settlement carries. */
const TRANSIENT_CODES = new Set<BatonErrorCode>(["unavailable", "deadline_exceeded"]);

function refusedForContent(error: unknown): boolean {
  if (error instanceof BatonError) return !TRANSIENT_CODES.has(error.code);
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && CONTENT_SQLSTATE.test(code);
}

/** Why a settlement was refused, without SQL text. */
function refusal(error: unknown): string {
  if (error instanceof BatonError) return error.message;
  return `refused by the database (SQLSTATE ${(error as { code: string }).code})`;
}

/** The settlement with the worker that sent it, for the attempt's span (messaging.client.id). */
function withWorker<T extends Ack | Failure>({ session, item }: Pending<T>): T {
  return { ...item, workerId: session.workerId };
}
