import { setCappedTimeout } from "../util/timer.js";
import type { Database } from "../store/database.js";
import type { ClaimedJob, JobRecord, NewJob } from "../store/job-record.js";
import { type Handoff, type InsertedJob, jobClaim, jobClaimLimited, jobGetMany, jobUnclaim } from "../store/jobs.js";
import { type JobMetrics, queueWaitSeconds } from "../telemetry/job-metrics.js";
import type { JobSampling } from "../telemetry/job-sampling.js";
import { deliveryTraceparent } from "../telemetry/trace-context.js";
import type { Logger } from "../util/log.js";
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
  /** Most bytes of blocker results one claimed dependant carries. */
  maxDependsOnResultBytes: number;
  settings: QueueSettingsCache;
  /** Observes the queue wait of each claimed job. */
  metrics: JobMetrics;
  /** Unsamples the traceparent of deliveries whose trace the sampler drops; unset when tracing is off. */
  traceSampling?: JobSampling | undefined;
  /** Called with each job handed to a stream (the lease keeper watches its deadline). */
  onDelivered(session: Session, job: ClaimedJob): void;
}

/**
 * The streams that take jobs from exactly the same queues: the unit of a claim. A stream on
 * one queue shares its group with every other stream on that queue; a stream on
 * several queues is served by one claim across them, so priority and turns apply across its
 * queues rather than queue by queue.
 */
interface Group {
  key: string;
  /** Sorted, so that [a, b] and [b, a] are one group. */
  queues: string[];
  sessions: Set<Session>;
  /** Jobs claimed so far: where the queues' turns start next time (round-robin). */
  turn: number;
  /** Claims so far: which of the group's claim statements goes first next time. */
  round: number;
}

/**
 * Turns wakeups and free credit into batched claims. Streams are grouped by their set of
 * queues; for each group it claims, in one statement, as many jobs as its streams can take,
 * then spreads them over those streams. At most one claim per group is in flight; a wakeup
 * during a claim runs another right after. A stream belongs to one group, so its credit is
 * never reserved by two claims at once.
 *
 * Fairness across the queues of a stream: one claim takes the most urgent jobs of all of them
 * (lower priority first); among equal priorities the queues take turns, and the first turn
 * rotates from claim to claim, so a backlog on one queue never starves another (JobClaim).
 * Limited queues (concurrency, rate or fairness limit) need their own locked claim each; they
 * take turns with the group's other queues claim by claim (priority is honoured within each).
 */
export class Dispatcher {
  private readonly groups = new Map<string, Group>();
  private readonly groupsByQueue = new Map<string, Set<Group>>();
  private readonly dirty = new Set<Group>();
  private readonly claiming = new Set<Group>();
  /**
   * Groups whose last claim left free credit unused: no due job was waiting. A new job there
   * can be handed to a waiting stream at insert, skipping the wakeup and the claim. Anything
   * that may add claimable jobs (a notification, a due timer, a retry) clears the mark.
   */
  private readonly drained = new Set<Group>();
  private pumpScheduled = false;
  private stopped = false;
  /** When each group's next delayed job is due; one shared timer serves them all. */
  private readonly dueTimes = new Map<Group, number>();
  private dueTimer: NodeJS.Timeout | undefined;
  private dueTimerAt = Infinity;
  private readonly groupOf = new WeakMap<Session, Group>();

  constructor(private readonly options: DispatcherOptions) {}

  add(session: Session): void {
    const queues = [...new Set(session.queues)].sort();
    const key = queues.join(" ");
    let group = this.groups.get(key);
    if (!group) {
      group = { key, queues, sessions: new Set(), turn: 0, round: 0 };
      this.groups.set(key, group);
      for (const queue of queues) {
        let groups = this.groupsByQueue.get(queue);
        if (!groups) this.groupsByQueue.set(queue, (groups = new Set()));
        groups.add(group);
      }
    }
    group.sessions.add(session);
    this.groupOf.set(session, group);
    this.wakeGroup(group);
  }

  remove(session: Session): void {
    const group = this.groupOf.get(session);
    if (!group) return;
    group.sessions.delete(session);
    if (group.sessions.size > 0) return;
    this.groups.delete(group.key);
    for (const queue of group.queues) {
      const groups = this.groupsByQueue.get(queue);
      groups?.delete(group);
      if (groups?.size === 0) this.groupsByQueue.delete(queue);
    }
    this.dueTimes.delete(group);
    this.drained.delete(group);
    this.dirty.delete(group);
  }

  /** A queue may have claimable jobs (notification, released jobs, retries). */
  wake(queue: string): void {
    for (const group of this.groupsByQueue.get(queue) ?? []) {
      this.wakeGroup(group);
    }
  }

  wakeQueues(queues: Iterable<string>): void {
    for (const queue of queues) this.wake(queue);
  }

  /**
   * The stream can take more. A claim costs about as much for one job as for hundreds, so a
   * stream's window refills once half of it is free, not job by job. A group whose last claim
   * came up short waits for a wakeup instead (a notification, its due timer, a retry, the
   * fallback poll): claiming after every ack would find nothing again.
   */
  creditFreed(session: Session): void {
    const group = this.groupOf.get(session);
    if (!group || this.drained.has(group)) return;
    if (session.freeCredit * 2 >= session.maxInFlight) this.markDirty(group);
  }

  /** The group may have claimable jobs again: claim for it, even if its last claim came up short. */
  private wakeGroup(group: Group): void {
    this.drained.delete(group);
    this.markDirty(group);
  }

  private markDirty(group: Group): void {
    // A claim that ends after its group's last stream left must not revive the group.
    if (this.stopped || this.groups.get(group.key) !== group) return;
    this.dirty.add(group);
    this.schedulePump();
  }

  /**
   * Picks the new jobs that can go straight to a waiting stream: due now, plain (no
   * dependencies, no dedup_key), on an unlimited queue, for a stream whose group is drained
   * (none of its queues had a due job left) and has free credit on this replica. Credit is
   * reserved until `completeHandoff`; the insert itself decides, by the database's view of
   * the queue, which jobs it leases.
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

  /** Streams of drained groups on an unlimited queue that could take a job now (last one first). */
  private waitingSessions(queue: string): Session[] {
    const settings = this.options.settings.get(queue);
    if (settings?.paused || settings?.limited) return [];
    const sessions: Session[] = [];
    for (const group of this.groupsByQueue.get(queue) ?? []) {
      if (!this.drained.has(group) || this.claiming.has(group) || this.dirty.has(group)) continue;
      for (const session of group.sessions) if (session.freeCredit > 0) sessions.push(session);
    }
    return sessions.reverse();
  }

  /** Delivers the jobs the insert leased to their streams; `inserted` is undefined if it failed. */
  async completeHandoff(takers: (Session | undefined)[], inserted: InsertedJob[] | undefined): Promise<void> {
    const undeliverable: ClaimedJob[] = [];
    takers.forEach((session, i) => {
      if (!session) return;
      session.unreserve(1);
      const result = inserted?.[i];
      if (!result) return;
      const { job: record, deduplicated } = result;
      if (deduplicated || record.state !== "leased") return;
      const job = this.sampled(handedOff(record));
      if (session.deliver(job)) this.options.onDelivered(session, job);
      else undeliverable.push(job);
    });
    for (const session of new Set(takers)) session?.flush();
    await this.giveBack(undeliverable);
  }

  /**
   * Returns jobs leased for streams that closed before they could be delivered; the attempt
   * never started. If that fails, the leases, which nobody renews, expire and the reaper
   * re-queues the jobs.
   */
  private async giveBack(jobs: ClaimedJob[]): Promise<void> {
    if (jobs.length === 0) return;
    try {
      this.wakeQueues(await jobUnclaim(this.options.db, jobs.map((job) => ({ jobId: job.id, leaseToken: job.leaseToken }))));
    } catch (error) {
      this.options.log.warn("returning undelivered jobs failed; their leases will expire", { error, jobs: jobs.length });
    }
  }

  /** Fallback poll and reconnects: notifications may have been missed. */
  wakeAll(): void {
    for (const group of this.groups.values()) {
      this.wakeGroup(group);
    }
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
      for (const group of [...this.dirty]) {
        if (this.claiming.has(group)) continue;
        this.dirty.delete(group);
        void this.claimFor(group);
      }
    });
  }

  private async claimFor(group: Group): Promise<void> {
    const allocations = this.reserveCredit(group);
    const demand = allocations.reduce((sum, a) => sum + a.count, 0);
    if (demand === 0 || this.stopped) {
      this.release(allocations);
      return;
    }
    this.claiming.add(group);
    let claimedAll: boolean;
    try {
      const { jobs, nextDueTime, queueLimited, rateLimited } = await this.claim(group, demand);
      // Our settings were stale: a queue got a limit. Reload them and claim again.
      if (queueLimited) void this.options.settings.refresh().then(() => this.markDirty(group));
      claimedAll = jobs.length === demand;
      if (claimedAll) this.drained.delete(group);
      else this.drained.add(group);
      await this.distribute(await this.withRecords(jobs, allocations), allocations);
      // Rate-limited: tokens refill with time, so look again when the next one is due.
      const refill = rateLimited !== undefined && !claimedAll ? new Date(Date.now() + Math.max(20, 1000 / rateLimited)) : null;
      this.armDueTimer(group, earliest(nextDueTime, refill));
    } catch (error) {
      this.release(allocations);
      this.options.log.warn("claim failed", { queues: group.queues, error });
      // The fallback poll retries; retrying at once would spin while the database is down.
      return;
    } finally {
      this.claiming.delete(group);
    }
    // A full batch suggests more jobs are waiting; new wakeups during the claim also re-run.
    if (claimedAll) this.markDirty(group);
    if (this.dirty.size > 0) this.schedulePump();
  }

  /**
   * Claims up to `demand` jobs for a group. Its queues without limits go in one statement;
   * each limited queue needs its own (under the queue's lock). The statements run in turn,
   * the first rotating from claim to claim, until the demand is met.
   */
  private async claim(group: Group, demand: number) {
    const { settings } = this.options;
    const active = group.queues.filter((queue) => !settings.get(queue)?.paused);
    const limited = active.filter((queue) => settings.get(queue)?.limited);
    const plain = active.filter((queue) => !settings.get(queue)?.limited);
    const parts: string[][] = [...(plain.length > 0 ? [plain] : []), ...limited.map((queue) => [queue])];
    // Counted in claims, not jobs: a count of jobs that is always a multiple of the number
    // of statements would start with the same one every time.
    const start = group.round++ % Math.max(1, parts.length);
    const jobs: ClaimedJob[] = [];
    let nextDueTime: Date | null = null;
    let queueLimited = false;
    let rateLimited: number | undefined;
    for (const part of [...parts.slice(start), ...parts.slice(0, start)]) {
      const common = {
        limit: demand - jobs.length,
        leaseSeconds: this.options.leaseSeconds,
        owner: this.options.replicaId,
        dependsOnResultBytes: this.options.maxDependsOnResultBytes,
      };
      const rateLimit = part === plain ? undefined : settings.get(part[0]!)?.rateLimit;
      const result =
        part === plain
          ? await jobClaim(this.options.db, { ...common, queues: plain, first: group.turn % plain.length })
          : await jobClaimLimited(this.options.db, { ...common, queue: part[0]! });
      this.options.metrics.claimed(result.jobs);
      jobs.push(...result.jobs);
      nextDueTime = earliest(nextDueTime, result.nextDueTime);
      queueLimited ||= result.queueLimited;
      if (rateLimit) rateLimited = Math.max(rateLimited ?? 0, rateLimit);
      if (jobs.length === demand) break;
    }
    group.turn += Math.max(1, jobs.length);
    return { jobs, nextDueTime, queueLimited, rateLimited };
  }

  private reserveCredit(group: Group): { session: Session; count: number }[] {
    const allocations: { session: Session; count: number }[] = [];
    let total = 0;
    for (const session of group.sessions) {
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

  /**
   * Claims return lean rows; streams that take full jobs (hello.lean_jobs unset) get the whole
   * rows in one more query, which only their claims pay.
   */
  private async withRecords(jobs: ClaimedJob[], allocations: { session: Session }[]): Promise<ClaimedJob[]> {
    if (jobs.length === 0 || allocations.every(({ session }) => session.leanJobs)) return jobs;
    const records = new Map((await jobGetMany(this.options.db, jobs.map((job) => job.id))).map((record) => [record.id, record]));
    return jobs.map((job) => ({ ...job, record: records.get(job.id) }));
  }

  /** Spreads claimed jobs over the streams that reserved credit, in turn. */
  private async distribute(jobs: ClaimedJob[], allocations: { session: Session; count: number }[]): Promise<void> {
    this.release(allocations);
    const undeliverable: ClaimedJob[] = [];
    let next = 0;
    for (const claimed of jobs) {
      const job = this.sampled(claimed);
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
    for (const { session } of allocations) session.flush();
    await this.giveBack(undeliverable);
  }

  /** The job as its worker gets it: the traceparent says whether the trace is sampled. */
  private sampled(job: ClaimedJob): ClaimedJob {
    const sampling = this.options.traceSampling;
    return sampling ? { ...job, traceparent: sampling.deliveryTraceparent(job.traceparent) } : job;
  }

  private armDueTimer(group: Group, nextDueTime: Date | null): void {
    if (nextDueTime === null) {
      this.dueTimes.delete(group);
      return;
    }
    this.dueTimes.set(group, nextDueTime.getTime());
    const earliest = Math.min(...this.dueTimes.values());
    if (earliest >= this.dueTimerAt) return;
    clearTimeout(this.dueTimer);
    this.dueTimerAt = earliest;
    // Due times are database time; a small margin absorbs clock skew between broker and
    // database, and the claim itself decides by database time.
    this.dueTimer = setCappedTimeout(() => this.fireDueTimer(), earliest - Date.now() + 5);
  }

  private fireDueTimer(): void {
    this.dueTimerAt = Infinity;
    const now = Date.now();
    for (const [group, due] of this.dueTimes) {
      if (due <= now + 5) {
        this.dueTimes.delete(group);
        this.wakeGroup(group);
      }
    }
    if (this.dueTimes.size > 0) {
      const earliest = Math.min(...this.dueTimes.values());
      this.dueTimerAt = earliest;
      this.dueTimer = setCappedTimeout(() => this.fireDueTimer(), earliest - now + 5);
    }
  }
}

/** A job leased at insert (hand-off), in the shape of a claimed one; it carries its whole row. */
function handedOff(record: JobRecord): ClaimedJob {
  return {
    id: record.id,
    queue: record.queue,
    payload: record.payload,
    headers: record.headers,
    priority: record.priority,
    attempt: record.attempt,
    maxAttempts: record.maxAttempts,
    chainId: record.chainId,
    parentId: record.parentId,
    timeoutSeconds: record.timeoutSeconds,
    leaseToken: record.leaseToken!,
    leaseExpireTime: record.leaseExpireTime!,
    attemptDeadline: record.attemptDeadline,
    runTime: record.runTime,
    queueWaitSeconds: queueWaitSeconds(record),
    traceparent: deliveryTraceparent(record),
    // Only jobs without blockers are handed off at insert.
    dependsOnResults: [],
    record,
  };
}

function earliest(a: Date | null, b: Date | null): Date | null {
  if (a === null) return b;
  if (b === null) return a;
  return a < b ? a : b;
}
