import type { Database } from "../store/database.js";
import type { JobRecord, NewJob } from "../store/job-record.js";
import { type Handoff, type InsertedJob, jobClaim, jobClaimLimited, jobUnclaim } from "../store/jobs.js";
import type { Logger } from "../telemetry/log.js";
import type { QueueSettingsCache } from "./queue-settings.js";
import type { Session } from "./session.js";

export interface DispatcherOptions {
  db: Database;
  log: Logger;
  /** Id of this replica, stored as the lease owner of claimed jobs. */
  replicaId: string;
  leaseSeconds: number;
  /** Largest claim in one statement. */
  maxClaimBatch: number;
  settings: QueueSettingsCache;
  /** Called with each job handed to a stream (the lease keeper watches its deadline). */
  onDelivered(session: Session, job: JobRecord): void;
}

/**
 * Turns wakeups and free credit into batched claims. For each queue it claims, in one
 * statement, as many jobs as all streams on that queue can take, then spreads them over those
 * streams. At most one claim per queue is in flight; a wakeup during a claim runs another
 * right after. Credit is reserved before a claim so two queues sharing a stream never
 * over-deliver to it.
 */
export class Dispatcher {
  private readonly sessionsByQueue = new Map<string, Set<Session>>();
  private readonly dirty = new Set<string>();
  private readonly claiming = new Set<string>();
  /** Queues that found no free credit because claims of other queues had reserved it. */
  private readonly deferred = new Set<string>();
  /**
   * Queues whose last claim left free credit unused: no due job was waiting. A new job there
   * can be handed to a waiting stream at insert, skipping the wakeup and the claim. Anything
   * that may add claimable jobs (a notification, a due timer, a retry) clears the mark.
   */
  private readonly drained = new Set<string>();
  private pumpScheduled = false;
  private stopped = false;
  /** When each queue's next delayed job is due; one shared timer serves them all. */
  private readonly dueTimes = new Map<string, number>();
  private dueTimer: NodeJS.Timeout | undefined;
  private dueTimerAt = Infinity;

  constructor(private readonly options: DispatcherOptions) {}

  add(session: Session): void {
    for (const queue of session.queues) {
      let sessions = this.sessionsByQueue.get(queue);
      if (!sessions) this.sessionsByQueue.set(queue, (sessions = new Set()));
      sessions.add(session);
    }
    this.wakeQueues(session.queues);
  }

  remove(session: Session): void {
    for (const queue of session.queues) {
      const sessions = this.sessionsByQueue.get(queue);
      sessions?.delete(session);
      if (sessions?.size === 0) {
        this.sessionsByQueue.delete(queue);
        this.dueTimes.delete(queue);
        this.drained.delete(queue);
      }
    }
  }

  /** A queue may have claimable jobs (notification, released jobs, retries). */
  wake(queue: string): void {
    this.drained.delete(queue);
    this.creditFreed(queue);
  }

  wakeQueues(queues: Iterable<string>): void {
    for (const queue of queues) this.wake(queue);
  }

  /** Streams on these queues can take more: claim if jobs are waiting. */
  creditFreedOn(queues: Iterable<string>): void {
    for (const queue of queues) this.creditFreed(queue);
  }

  private creditFreed(queue: string): void {
    if (this.stopped || !this.sessionsByQueue.has(queue)) return;
    this.dirty.add(queue);
    this.schedulePump();
  }

  /**
   * Picks the new jobs that can go straight to a waiting stream: due now, plain (no
   * dependencies, no dedup_key), on a drained, unlimited queue with free credit on this
   * replica. Credit is reserved until `completeHandoff`; the insert itself decides, by the
   * database's view of the queue, which jobs it leases.
   */
  offerHandoff(jobs: NewJob[], owner: string): { handoff: Handoff; takers: (Session | undefined)[] } | undefined {
    if (this.stopped) return undefined;
    // Per queue, the streams with free credit, filled one after the other: one pass over the
    // streams and one over the jobs, however many of each.
    const waiting = new Map<string, Session[]>();
    const takers = jobs.map((job) => {
      if (job.dependsOn?.length || job.dedupKey !== undefined || job.runTime !== undefined || (job.delaySeconds ?? 0) > 0) return undefined;
      let sessions = waiting.get(job.queue);
      if (!sessions) waiting.set(job.queue, (sessions = this.waitingSessions(job.queue)));
      while (sessions.length > 0 && sessions.at(-1)!.freeCredit === 0) sessions.pop();
      const taker = sessions.at(-1);
      taker?.reserve(1);
      return taker;
    });
    if (!takers.some(Boolean)) return undefined;
    return { handoff: { jobs: takers.map(Boolean), owner, leaseSeconds: this.options.leaseSeconds }, takers };
  }

  /** Streams of a drained, unlimited queue that could take a job now (last one first); none for other queues. */
  private waitingSessions(queue: string): Session[] {
    if (!this.drained.has(queue) || this.claiming.has(queue) || this.dirty.has(queue)) return [];
    const settings = this.options.settings.get(queue);
    if (settings?.paused || settings?.limited) return [];
    return [...(this.sessionsByQueue.get(queue) ?? [])].filter((session) => session.freeCredit > 0).reverse();
  }

  /** Delivers the jobs the insert leased to their streams; `inserted` is undefined if it failed. */
  async completeHandoff(takers: (Session | undefined)[], inserted: InsertedJob[] | undefined): Promise<void> {
    const undeliverable: JobRecord[] = [];
    takers.forEach((session, i) => {
      if (!session) return;
      session.unreserve(1);
      const result = inserted?.[i];
      if (!result) return;
      const { job, deduplicated } = result;
      if (deduplicated || job.state !== "leased") return;
      if (session.deliver(job)) this.options.onDelivered(session, job);
      else undeliverable.push(job);
    });
    await this.giveBack(undeliverable);
  }

  /**
   * Returns jobs leased for streams that closed before they could be delivered; the attempt
   * never started. If that fails, the leases, which nobody renews, expire and the reaper
   * re-queues the jobs.
   */
  private async giveBack(jobs: JobRecord[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      this.wakeQueues(await jobUnclaim(this.options.db, jobs.map((job) => ({ jobId: job.id, leaseToken: job.lease_token! }))));
    } catch (error) {
      this.options.log.warn("returning undelivered jobs failed; their leases will expire", { error, jobs: jobs.length });
    }
  }

  /** Fallback poll and reconnects: notifications may have been missed. */
  wakeAll(): void {
    this.wakeQueues(this.sessionsByQueue.keys());
  }

  /** Stops claiming; sessions keep the jobs they have. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.dueTimer);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Coalesces every wakeup of this turn of the event loop into one pass.
    setImmediate(() => {
      this.pumpScheduled = false;
      for (const queue of [...this.dirty]) {
        if (this.claiming.has(queue)) continue;
        this.dirty.delete(queue);
        void this.claimFor(queue);
      }
    });
  }

  private async claimFor(queue: string): Promise<void> {
    const settings = this.options.settings.get(queue);
    // A paused queue is woken again by its resume notification.
    if (settings?.paused) return;
    const allocations = this.reserveCredit(queue);
    const demand = allocations.reduce((sum, a) => sum + a.count, 0);
    if (demand === 0 || this.stopped) {
      this.release(allocations);
      // Streams on several queues: the credit may come back unused when the other claim ends.
      if (demand === 0 && [...(this.sessionsByQueue.get(queue) ?? [])].some((s) => s.reservedCredit > 0)) this.deferred.add(queue);
      return;
    }
    this.claiming.add(queue);
    let claimedAll = false;
    try {
      const claim = settings?.limited ? jobClaimLimited : jobClaim;
      const { jobs, nextDueTime, queueLimited } = await claim(this.options.db, {
        queue,
        limit: demand,
        leaseSeconds: this.options.leaseSeconds,
        owner: this.options.replicaId,
      });
      // Our settings were stale: the queue got a limit. Reload them and claim again.
      if (queueLimited) void this.options.settings.refresh().then(() => this.wake(queue));
      claimedAll = jobs.length === demand;
      if (claimedAll) this.drained.delete(queue);
      else this.drained.add(queue);
      await this.distribute(jobs, allocations);
      // Rate-limited: tokens refill with time, so look again when the next one is due.
      const rateLimit = settings?.rateLimit;
      const refill = rateLimit && !claimedAll ? new Date(Date.now() + Math.max(20, 1000 / rateLimit)) : null;
      this.armDueTimer(queue, earliest(nextDueTime, refill));
    } catch (error) {
      this.release(allocations);
      this.options.log.warn("claim failed", { queue, error });
      // The fallback poll retries; retrying at once would spin while the database is down.
      return;
    } finally {
      this.claiming.delete(queue);
      for (const waiting of this.deferred) this.dirty.add(waiting);
      this.deferred.clear();
    }
    // A full batch suggests more jobs are waiting; new wakeups during the claim also re-run.
    if (claimedAll) this.dirty.add(queue);
    if (this.dirty.size > 0) this.schedulePump();
  }

  private reserveCredit(queue: string): { session: Session; count: number }[] {
    const allocations: { session: Session; count: number }[] = [];
    let total = 0;
    for (const session of this.sessionsByQueue.get(queue) ?? []) {
      const count = Math.min(session.freeCredit, this.options.maxClaimBatch - total);
      if (count <= 0) continue;
      session.reserve(count);
      allocations.push({ session, count });
      total += count;
      if (total >= this.options.maxClaimBatch) break;
    }
    return allocations;
  }

  private release(allocations: { session: Session; count: number }[]): void {
    for (const { session, count } of allocations) session.unreserve(count);
  }

  /** Spreads claimed jobs over the streams that reserved credit, in turn. */
  private async distribute(jobs: JobRecord[], allocations: { session: Session; count: number }[]): Promise<void> {
    this.release(allocations);
    const undeliverable: JobRecord[] = [];
    let next = 0;
    for (const job of jobs) {
      let delivered = false;
      for (let tries = 0; tries < allocations.length && !delivered; tries++) {
        const allocation = allocations[next]!;
        next = (next + 1) % allocations.length;
        if (allocation.count > 0) {
          allocation.count -= 1;
          delivered = allocation.session.deliver(job);
          if (delivered) this.options.onDelivered(allocation.session, job);
        }
      }
      if (!delivered) undeliverable.push(job);
    }
    await this.giveBack(undeliverable);
  }

  private armDueTimer(queue: string, nextDueTime: Date | null): void {
    if (nextDueTime === null) {
      this.dueTimes.delete(queue);
      return;
    }
    this.dueTimes.set(queue, nextDueTime.getTime());
    const earliest = Math.min(...this.dueTimes.values());
    if (earliest >= this.dueTimerAt) return;
    clearTimeout(this.dueTimer);
    this.dueTimerAt = earliest;
    // Due times are database time; a small margin absorbs clock skew between broker and
    // database, and the claim itself decides by database time.
    const delay = Math.max(0, earliest - Date.now()) + 5;
    this.dueTimer = setTimeout(() => this.fireDueTimer(), Math.min(delay, 2 ** 31 - 1));
  }

  private fireDueTimer(): void {
    this.dueTimerAt = Infinity;
    const now = Date.now();
    for (const [queue, due] of this.dueTimes) {
      if (due <= now + 5) {
        this.dueTimes.delete(queue);
        this.wake(queue);
      }
    }
    if (this.dueTimes.size > 0) {
      const earliest = Math.min(...this.dueTimes.values());
      this.dueTimerAt = earliest;
      this.dueTimer = setTimeout(() => this.fireDueTimer(), Math.max(0, earliest - now) + 5);
    }
  }
}

function earliest(a: Date | null, b: Date | null): Date | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}
