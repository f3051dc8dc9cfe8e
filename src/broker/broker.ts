import { randomUUID } from "node:crypto";
import type { BrokerConfig } from "../config.js";
import { dependantRepairTask } from "../maintenance/dependants.js";
import { fairnessBucketTask } from "../maintenance/fairness-buckets.js";
import { historyRetentionTask } from "../maintenance/history-retention.js";
import type { Maintainer } from "../maintenance/maintainer.js";
import { reaperTask } from "../maintenance/reaper.js";
import { retentionTask } from "../maintenance/retention.js";
import type { Database } from "../store/database.js";
import type { JobRecord, LeaseRef, NewJob } from "../store/job-record.js";
import {
  type CancelledJob,
  type Failure,
  type InsertedJob,
  type JobSearch,
  type ProgressUpdate,
  type RetryOutcome,
  createdJobs,
  jobCancel,
  jobDelete,
  jobMatchBatches,
  jobAdoptMany,
  jobFailMany,
  jobInsertMany,
  jobRetry,
} from "../store/jobs.js";
import { jobInsertGraph } from "../store/job-graph.js";
import { CHANNELS, type NotificationHandlers } from "../store/listener.js";
import { Notifier } from "../store/notifier.js";
import { workerDelete } from "../store/workers.js";
import { JobMetrics } from "../telemetry/job-metrics.js";
import type { Logger } from "../util/log.js";
import { Completer } from "./completer.js";
import type { JobSampling } from "../telemetry/job-sampling.js";
import { Dispatcher } from "./dispatcher.js";
import { JobWaiter } from "./job-waiter.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { QueueSettingsCache } from "./queue-settings.js";
import { Session, type SessionSink } from "./session.js";

/**
 * Most jobs a bulk operation (CancelJobs, RetryJobs, DeleteJobs) changes in one transaction:
 * it works through the jobs matching its filter in batches of this many, so no transaction
 * holds thousands of row locks for long, and workers keep claiming meanwhile.
 */
export const BULK_BATCH_SIZE = 1000;

export interface BrokerOptions {
  db: Database;
  log: Logger;
  config: BrokerConfig;
  replicaId?: string;
  /** The sampler's decisions for job traces, applied to the traceparents workers get; unset when tracing is off. */
  traceSampling?: JobSampling;
}

export interface OpenSessionParams {
  workerId: string;
  queues: string[];
  /** hello.labels: the stream takes only jobs whose worker_labels these contain. */
  labels: Record<string, string>;
  maxInFlight: number;
  /** Deliveries pause while more than this many bytes of them wait unread (see Session). */
  maxUnreadBytes: number;
  /** Each settled job returns its credit (hello.credit_on_settle). */
  creditOnSettle: boolean;
  /** Deliveries carry lean jobs (hello.lean_jobs). */
  leanJobs: boolean;
  sink: SessionSink;
  /** Leases the worker held before it reconnected. */
  resume: LeaseRef[];
}

export interface OpenedSession {
  session: Session;
  /** The resumed leases, with their fresh tokens. */
  resumed: LeaseRef[];
}

/**
 * The live part of one replica: worker sessions, the dispatcher that feeds them, the completer
 * that settles their acks, the lease keeper, job waiters, the LISTEN connection and the
 * maintenance loops.
 */
export class Broker {
  readonly replicaId: string;
  /** This replica's counters and histograms, observed where its statements return rows. */
  readonly metrics = new JobMetrics();
  private readonly sessions = new Map<string, Session>();
  /** Broken streams whose leases wait for a resume until their grace period ends. */
  private readonly detached = new Set<Session>();
  private readonly settings: QueueSettingsCache;
  private readonly dispatcher: Dispatcher;
  private readonly completer: Completer;
  private readonly leaseKeeper: LeaseKeeper;
  private readonly waiter: JobWaiter;
  private readonly notifier: Notifier;
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly stopping = new AbortController();

  constructor(private readonly options: BrokerOptions) {
    const { db, log, config } = options;
    this.replicaId = options.replicaId ?? `replica-${randomUUID().slice(0, 8)}`;
    this.settings = new QueueSettingsCache(db, log);
    const wakeQueues = (queues: Iterable<string>) => this.dispatcher.wakeQueues(queues);
    this.notifier = new Notifier(db, log);
    const announceSettled = (queues: Iterable<string>) => this.notifier.notify(CHANNELS.finished, new Set(queues));
    this.leaseKeeper = new LeaseKeeper({
      db,
      log,
      replicaId: this.replicaId,
      leaseSeconds: config.leaseSeconds,
      retryPolicy: config.retryPolicy,
      settings: this.settings,
      sessions: () => [...this.sessions.values(), ...this.detached],
      metrics: this.metrics,
      onJobsRunnable: wakeQueues,
      onJobsSettled: announceSettled,
    });
    this.dispatcher = new Dispatcher({
      db,
      log,
      replicaId: this.replicaId,
      leaseSeconds: config.leaseSeconds,
      maxClaimBatch: config.maxClaimBatch,
      maxDependsOnResultBytes: config.maxDependsOnResultBytes,
      settings: this.settings,
      metrics: this.metrics,
      traceSampling: options.traceSampling,
      onDelivered: (session, job) => this.leaseKeeper.watch(session.held.get(job.id)!),
    });
    this.completer = new Completer({
      db,
      log,
      retryPolicy: config.retryPolicy,
      defaultMaxAttempts: config.defaultMaxAttempts,
      metrics: this.metrics,
      onJobsRunnable: wakeQueues,
      onJobsSettled: announceSettled,
      onLeasesReleased: (session) => this.dispatcher.creditFreed(session),
    });
    this.waiter = new JobWaiter(db, log);
  }

  /**
   * Aborts when shutdown starts: long-lived producer streams stop taking batches then, and
   * end once the ones they took are answered.
   */
  get shutdownSignal(): AbortSignal {
    return this.stopping.signal;
  }

  get config(): BrokerConfig {
    return this.options.config;
  }

  /**
   * What this broker does with each notification, for the replica's one LISTEN connection (see
   * server.ts), and what it does after every (re)connect: poll for what it may have missed.
   */
  readonly notifications: { handlers: NotificationHandlers; onConnected(): void } = {
    handlers: {
      [CHANNELS.jobs]: (queue) => this.dispatcher.wake(queue),
      [CHANNELS.finished]: (queue) => {
        void this.waiter.check();
        // Finished jobs free room in limited queues; unlimited ones have none to free.
        if (this.settings.get(queue)?.limited) this.dispatcher.wake(queue);
      },
      [CHANNELS.cancel]: (jobId) => this.pushCancel(jobId),
      [CHANNELS.queues]: (queue) => void this.settings.refresh().then(() => this.dispatcher.wake(queue)),
    },
    onConnected: () => this.poll(),
  };

  /** Starts the lease keeper and pings, and hands the broker's periodic tasks to `maintainer`. */
  async start(maintainer: Maintainer): Promise<void> {
    const { db, log, config } = this.options;
    await this.settings.refresh();
    maintainer.add(
      {
        name: "poll",
        intervalMs: config.pollIntervalMs,
        run: () => {
          this.poll();
          return Promise.resolve();
        },
      },
      reaperTask({
        db,
        log,
        intervalMs: config.reapIntervalMs,
        retryPolicy: config.retryPolicy,
        metrics: this.metrics,
        onSettled: (queues) => {
          this.notifier.notify(CHANNELS.finished, new Set(queues));
          this.dispatcher.wakeQueues(queues);
        },
      }),
      retentionTask({ db, log, intervalMs: config.retentionIntervalMs, retention: config.retention }),
      // Rows of full buckets are only clutter: the retention sweeper's pace is enough.
      fairnessBucketTask({ db, intervalMs: config.retentionIntervalMs }),
      { name: "history flush", intervalMs: config.historyFlushIntervalMs, run: () => this.flushHistory() },
      historyRetentionTask({ db, intervalMs: config.retentionIntervalMs, retentionSeconds: config.historyRetentionSeconds }),
      // A safety net, not part of any job's path: the retention sweeper's pace is enough.
      dependantRepairTask({
        db,
        log,
        intervalMs: config.retentionIntervalMs,
        onCancelled: (queues) => this.notifier.notify(CHANNELS.finished, queues),
      }),
    );
    this.leaseKeeper.start();
    this.pingTimer = setInterval(() => this.pingSessions(), config.pingIntervalMs);
  }

  /** Creates jobs atomically; queues with runnable jobs on this replica are woken at once. */
  async enqueue(newJobs: NewJob[]): Promise<InsertedJob[]> {
    const { db, config } = this.options;
    const jobs = this.options.traceSampling?.startTraces(newJobs) ?? newJobs;
    if (jobs.some((job) => job.dependsOn?.length || job.dependsOnIndex?.length)) {
      const inserted = await db.transaction((tx) => jobInsertGraph(tx, jobs, config.defaultMaxAttempts));
      this.metrics.enqueued(createdJobs(inserted));
      this.dispatcher.wakeQueues(new Set(jobs.map((job) => job.queue)));
      return inserted;
    }
    const offer = this.dispatcher.offerHandoff(jobs, this.replicaId);
    let inserted: InsertedJob[] | undefined;
    try {
      inserted = await jobInsertMany(db, jobs, { defaultMaxAttempts: config.defaultMaxAttempts, handoff: offer?.handoff });
      this.metrics.enqueued(createdJobs(inserted));
      return inserted;
    } finally {
      if (offer) await this.dispatcher.completeHandoff(offer.takers, inserted);
      // The notification reaches every replica, this one included; waking here saves its
      // latency. Handed-off jobs need no wakeup.
      const waiting = inserted ? inserted.filter((i) => i.job.state !== "leased").map((i) => i.job.queue) : [];
      this.dispatcher.wakeQueues(new Set(waiting));
    }
  }

  /** Jobs the scheduler of this replica created, once committed: counted, and claimed now. */
  scheduled(jobs: JobRecord[]): void {
    this.metrics.enqueued(jobs);
    this.dispatcher.wakeQueues(new Set(jobs.map((job) => job.queue)));
  }

  /** Cancels jobs; the holders of leased ones, on whichever replica, are told through baton_cancel. */
  async cancel(ids: string[]): Promise<CancelledJob[]> {
    const changed = await jobCancel(this.options.db, ids);
    for (const job of changed) this.metrics.cancelled(job);
    return changed;
  }

  /** Cancels the unfinished jobs matching `filter`, one batch (one transaction) at a time. */
  async cancelMatching(filter: JobSearch): Promise<{ cancelled: number; cancelRequested: number }> {
    const counts = { cancelled: 0, cancelRequested: 0 };
    for await (const ids of jobMatchBatches(this.options.db, filter, BULK_BATCH_SIZE)) {
      for (const job of await this.cancel(ids)) {
        if (job.state === "cancelled") counts.cancelled++;
        else counts.cancelRequested++;
      }
    }
    return counts;
  }

  async retry(ids: string[]): Promise<RetryOutcome> {
    const outcome = await jobRetry(this.options.db, ids);
    this.dispatcher.wakeQueues(new Set(outcome.revived.filter((job) => job.state === "available").map((job) => job.queue)));
    return outcome;
  }

  /**
   * Revives the DEAD and CANCELLED jobs matching `filter`, one batch at a time, newest first:
   * of jobs sharing a dedup_key, the newest is revived and the older ones refused, as in one call.
   */
  async retryMatching(filter: JobSearch): Promise<{ revived: number; refused: RetryOutcome["refused"] }> {
    const total = { revived: 0, refused: [] as RetryOutcome["refused"] };
    for await (const ids of jobMatchBatches(this.options.db, filter, BULK_BATCH_SIZE)) {
      const { revived, refused } = await this.retry(ids);
      total.revived += revived.length;
      total.refused.push(...refused);
    }
    return total;
  }

  /** Deletes the jobs of `ids` that are not leased; returns the ids deleted. */
  async delete(ids: string[]): Promise<string[]> {
    return (await jobDelete(this.options.db, ids)).map((job) => job.id);
  }

  /** Deletes the jobs matching `filter` that are not leased, one batch at a time; returns how many. */
  async deleteMatching(filter: JobSearch): Promise<number> {
    let deleted = 0;
    for await (const ids of jobMatchBatches(this.options.db, filter, BULK_BATCH_SIZE)) deleted += (await this.delete(ids)).length;
    return deleted;
  }

  /** Waits for the job to finish or, with `wholeChain`, for every job of its chain. */
  wait(id: string, timeoutMs: number, wholeChain = false) {
    return this.waiter.wait(id, timeoutMs, wholeChain);
  }

  /**
   * The lease a stream on these queues gets, for welcome: the shortest of their lease_duration
   * settings (the broker's default for queues that set none). A worker that plans by it never
   * believes a lease outlives the broker's renewals by more than it does.
   */
  leaseSecondsFor(queues: readonly string[]): number {
    return Math.min(...queues.map((queue) => this.settings.get(queue)?.leaseSeconds ?? this.options.config.leaseSeconds));
  }

  /** Opens a worker session, first adopting the leases it resumes. */
  async openSession(params: OpenSessionParams): Promise<OpenedSession> {
    const { resume, ...init } = params;
    const session = new Session({ id: randomUUID(), ...init });
    const resumed: LeaseRef[] = [];
    if (resume.length > 0) {
      const adopted = await jobAdoptMany(this.options.db, resume, this.replicaId, this.options.config.leaseSeconds);
      for (const job of adopted) {
        // A detached session of this replica held it: the new token retires that lease.
        for (const old of this.detached) old.forget(job.id);
        session.adopt(job);
        this.leaseKeeper.watch(session.held.get(job.id)!);
        resumed.push({ jobId: job.id, leaseToken: job.leaseToken! });
      }
    }
    this.sessions.set(session.id, session);
    this.dispatcher.add(session);
    this.leaseKeeper.registerWorkers().catch((error) => this.options.log.warn("registering worker failed", { error }));
    return { session, resumed };
  }

  /**
   * Ends a session. Its jobs go back to their queues at once, or, when the stream broke and
   * the worker asked for a resume grace, after `graceMs` unless a reconnect adopts them first;
   * meanwhile their leases are still renewed.
   */
  async closeSession(session: Session, reason: string, graceMs = 0): Promise<void> {
    if (!this.sessions.delete(session.id)) return;
    this.dispatcher.remove(session);
    // Acks the stream sent before it ended must land before its leases are released, or a
    // finished job would run again.
    await this.completer.drain();
    await workerDelete(this.options.db, session.id).catch(() => {});
    if (graceMs > 0 && session.held.size > 0) {
      session.detach();
      this.detached.add(session);
      setTimeout(() => {
        this.detached.delete(session);
        void this.release(session, `${reason}; not resumed within ${graceMs / 1000}s`);
      }, graceMs).unref();
      return;
    }
    await this.release(session, reason);
  }

  /** Closes a stream and gives its leases back: the attempt counts, so a job that kills every worker still ends. */
  private async release(session: Session, reason: string): Promise<void> {
    const leases = session.close();
    if (leases.length === 0) return;
    try {
      const failures = leases.map((lease) => ({ ...lease, error: reason, retryDelaySeconds: 0, deadLetter: false, workerId: session.workerId }));
      const outcomes = await jobFailMany(this.options.db, failures, this.options.config.retryPolicy);
      this.metrics.failed(outcomes);
      this.notifier.notify(CHANNELS.finished, new Set(outcomes.map((o) => o.queue)));
      this.dispatcher.wakeQueues(outcomes.filter((o) => o.state === "available").map((o) => o.queue));
    } catch (error) {
      // The leases stop being renewed, so the reaper re-queues them after expiry.
      this.options.log.warn("releasing leases failed; they will expire", { error, jobs: leases.length });
    }
  }

  /** A stream that had stopped reading took enough of its deliveries: it may get more. */
  deliveriesResumed(session: Session): void {
    this.dispatcher.creditFreed(session);
  }

  grantCredit(session: Session, n: number): void {
    session.grantCredit(n);
    this.dispatcher.creditFreed(session);
  }

  ack(session: Session, lease: LeaseRef, result: Uint8Array, continueWith: NewJob[]): void {
    if (continueWith.length > 0) this.completer.ackWithContinuation(session, { ...lease, result, continueWith });
    else this.completer.ack(session, { ...lease, result });
    this.finished(session, lease);
  }

  nack(session: Session, failure: Failure): void {
    this.completer.fail(session, failure);
    this.finished(session, failure);
  }

  /**
   * An ack or nack refused for what it carries, before anything was written: the attempt fails
   * with the reason and the worker is told it (see Completer.failRefused); its slot takes the
   * next job.
   */
  refuse(session: Session, lease: LeaseRef, reason: string): void {
    if (!session.holds(lease)) {
      session.sink.settled(lease.jobId, false, reason);
      return;
    }
    this.completer.failRefused(session, lease, reason);
    this.finished(session, lease);
  }

  /** The worker is done with a job: its slot takes the next one while the settlement is written. */
  private finished(session: Session, lease: LeaseRef): void {
    session.settle(lease);
    this.dispatcher.creditFreed(session);
  }

  reportProgress(session: Session, update: ProgressUpdate): void {
    if (session.holds(update)) this.completer.reportProgress(update);
  }

  listSessions(): Session[] {
    return [...this.sessions.values()];
  }

  /**
   * Graceful stop: claim nothing more, give workers up to `drainMs` to settle what they hold,
   * then release the rest. The replica's maintainer stops next (its passes may still notify),
   * and close() last.
   */
  async shutdown(drainMs: number): Promise<void> {
    this.stopping.abort();
    this.dispatcher.stop();
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && [...this.sessions.values()].some((s) => s.held.size > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await this.completer.drain();
    await Promise.all(
      [...this.sessions.values()].map(async (session) => {
        await this.closeSession(session, "broker shutting down");
        // Ends the stream with UNAVAILABLE, which workers answer by reconnecting elsewhere.
        session.sink.close("broker shutting down");
      }),
    );
    for (const session of this.detached) await this.release(session, "broker shutting down");
    this.detached.clear();
    clearInterval(this.pingTimer);
    await this.leaseKeeper.stop();
  }

  /**
   * Sends the notifications still batched and adds the last counts to the queue history; after
   * shutdown() and the maintainer's stop.
   */
  async close(): Promise<void> {
    await this.notifier.drain();
    await this.flushHistory().catch((error: unknown) => this.options.log.warn("the last queue history counts were not saved", { error }));
  }

  /** Adds what this replica counted since the last flush to the queue history (baton.queue_history). */
  flushHistory(): Promise<void> {
    return this.metrics.history.flush(this.options.db);
  }

  /** Fallback for missed notifications: settings, claims and waiters are all re-checked. */
  private poll(): void {
    void this.settings.refresh().then(() => this.dispatcher.wakeAll());
    void this.waiter.check();
  }

  private pushCancel(jobId: string): void {
    for (const session of this.sessions.values()) {
      if (session.held.has(jobId)) session.sink.cancel(jobId);
    }
  }

  private pingSessions(): void {
    const silentSince = Date.now() - 3 * this.options.config.pingIntervalMs;
    for (const session of this.sessions.values()) {
      if (session.lastSeenTime.getTime() < silentSince) {
        this.options.log.warn("closing silent worker stream", { session: session.id, worker: session.workerId });
        // The stream ends once its jobs are released, so the worker's view never runs ahead.
        void this.closeSession(session, "worker stream went silent").then(() => session.sink.close("worker did not answer pings"));
      } else {
        session.sink.ping();
      }
    }
  }
}
