import { setCappedTimeout } from "../util/timer.js";
import type { Database } from "../store/database.js";
import type { LeaseRef } from "../store/job-record.js";
import { type RetryPolicy, jobFailMany, jobRenewMany } from "../store/jobs.js";
import { WORKER_STALE_SECONDS, workerUpsertMany } from "../store/workers.js";
import type { JobMetrics } from "../telemetry/job-metrics.js";
import type { Logger } from "../util/log.js";
import type { QueueSettingsCache } from "./queue-settings.js";
import type { HeldLease, Session } from "./session.js";

export interface LeaseKeeperOptions {
  db: Database;
  log: Logger;
  replicaId: string;
  /** Default lease length; queues may set their own. */
  leaseSeconds: number;
  retryPolicy: RetryPolicy;
  settings: QueueSettingsCache;
  sessions(): Iterable<Session>;
  /** Observes the attempts it times out. */
  metrics: JobMetrics;
  /** Queues that got runnable jobs back (a timed-out attempt that will be retried). */
  onJobsRunnable(queues: Iterable<string>): void;
  /** Queues of attempts it timed out, once committed (baton_finished). */
  onJobsSettled(queues: Iterable<string>): void;
}

/**
 * Keeps this replica's leases alive and honest.
 *
 * Renewal: every lease held by an open stream is renewed in one statement, every third of the
 * shortest lease in use, so a lease survives two missed renewals. Workers never heartbeat per
 * job; a lease that failed to renew (reaped after a database outage, settled elsewhere) is
 * dropped and its worker told with lease_lost. The same tick refreshes the worker registry,
 * in its own statement that renewal never waits for.
 *
 * Timeouts: one timer for the earliest attempt deadline. When an attempt runs past its
 * timeout the worker gets cancel, the attempt is settled as failed (retried or DEAD), then
 * the worker gets lease_lost. Renewals never extend a lease past its deadline, so even if
 * this replica dies the job comes back when the deadline passes.
 */
export class LeaseKeeper {
  private renewTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private deadlineAt = Infinity;
  /** Renewals and timeouts run one after another, so neither acts on a lease the other dropped. */
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: LeaseKeeperOptions) {}

  start(): void {
    this.scheduleRenewal();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    await this.chain;
    await (this.nextRegistration ?? this.registration)?.catch(() => {});
  }

  /** A job was delivered: watch its deadline. */
  watch(lease: HeldLease): void {
    if (lease.deadline === null || this.stopped) return;
    const at = lease.deadline.getTime();
    if (at >= this.deadlineAt) return;
    clearTimeout(this.deadlineTimer);
    this.deadlineAt = at;
    this.deadlineTimer = setCappedTimeout(() => void this.serialize(() => this.expireOverdue()), at - Date.now());
  }

  private scheduleRenewal(): void {
    if (this.stopped) return;
    this.renewTimer = setTimeout(() => {
      void this.serialize(() => this.renew()).finally(() => this.scheduleRenewal());
    }, this.renewalIntervalMs());
  }

  /** A third of the shortest lease of any queue that open streams take from. */
  private renewalIntervalMs(): number {
    let shortest = this.options.leaseSeconds;
    for (const session of this.options.sessions()) {
      for (const queue of session.queues) {
        const seconds = this.options.settings.get(queue)?.leaseSeconds;
        if (seconds && seconds < shortest) shortest = seconds;
      }
    }
    return (shortest * 1000) / 3;
  }

  private serialize(work: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(work);
    return this.chain;
  }

  async renew(): Promise<void> {
    // Separate statements, and the registry is not awaited: renewal must never wait for or
    // fail with any other write, or one row the database refuses would cost every stream of
    // the replica its leases.
    this.registerWorkers().catch((error) => this.options.log.warn("refreshing the worker registry failed", { error }));
    const { holders, leases } = this.collect(() => true);
    if (leases.length === 0) return;
    try {
      const renewed = await jobRenewMany(this.options.db, leases, this.options.leaseSeconds);
      for (const lease of leases) {
        if (!renewed.has(lease.jobId)) this.drop(holders.get(lease.jobId)!, lease);
      }
    } catch (error) {
      this.options.log.warn("lease renewal failed", { error, leases: leases.length });
    }
  }

  private async expireOverdue(): Promise<void> {
    this.deadlineAt = Infinity;
    const now = Date.now();
    const { holders, leases } = this.collect((lease) => lease.deadline !== null && lease.deadline.getTime() <= now);
    if (leases.length > 0) {
      for (const lease of leases) holders.get(lease.jobId)!.sink.cancel(lease.jobId);
      try {
        const outcomes = await jobFailMany(
          this.options.db,
          leases.map((lease) => ({ ...lease, error: "attempt timed out", deadLetter: false, workerId: holders.get(lease.jobId)!.workerId })),
          this.options.retryPolicy,
        );
        this.options.metrics.failed(outcomes);
        this.options.onJobsSettled(outcomes.map((o) => o.queue));
        this.options.onJobsRunnable(outcomes.filter((o) => o.state === "available").map((o) => o.queue));
      } catch (error) {
        // The lease is no longer renewed past the deadline, so the reaper settles it.
        this.options.log.warn("timing out attempts failed", { error, leases: leases.length });
      }
      for (const lease of leases) this.drop(holders.get(lease.jobId)!, lease);
    }
    for (const session of this.options.sessions()) for (const lease of session.held.values()) this.watch(lease);
  }

  private collect(include: (lease: HeldLease) => boolean) {
    const holders = new Map<string, Session>();
    const leases: HeldLease[] = [];
    for (const session of this.options.sessions()) {
      for (const lease of session.held.values()) {
        if (!include(lease)) continue;
        holders.set(lease.jobId, session);
        leases.push(lease);
      }
    }
    return { holders, leases };
  }

  private drop(session: Session, lease: LeaseRef): void {
    // Settled while the statement ran: not lost, just done.
    if (!session.holds(lease)) return;
    session.forget(lease.jobId);
    session.sink.leaseLost(lease.jobId);
  }

  /**
   * Writes this replica's open streams to the registry that ListWorkers reads. At most one write runs at a time: callers during a
   * write share the next one, which starts when it ends and so includes their sessions. A burst
   * of new streams (1,000 workers connecting) costs two statements instead of one each, and
   * concurrent upserts of the same rows can no longer deadlock.
   */
  registerWorkers(): Promise<void> {
    if (this.nextRegistration) return this.nextRegistration;
    if (this.registration) {
      this.nextRegistration = this.registration
        .catch(() => {})
        .then(() => {
          this.nextRegistration = undefined;
          return this.startRegistration();
        });
      return this.nextRegistration;
    }
    return this.startRegistration();
  }

  private registration: Promise<void> | undefined;
  private nextRegistration: Promise<void> | undefined;

  private startRegistration(): Promise<void> {
    const run = this.writeWorkers().finally(() => {
      if (this.registration === run) this.registration = undefined;
    });
    this.registration = run;
    return run;
  }

  private async writeWorkers(): Promise<void> {
    const sessions = [...this.options.sessions()];
    await workerUpsertMany(
      this.options.db,
      this.options.replicaId,
      sessions.map((s) => ({
        sessionId: s.id,
        workerId: s.workerId,
        queues: [...s.queues],
        labels: s.labels,
        inFlight: s.running,
        maxInFlight: s.maxInFlight,
        connectTime: s.connectTime,
        lastSeenTime: s.lastSeenTime,
      })),
      WORKER_STALE_SECONDS,
    );
  }
}
