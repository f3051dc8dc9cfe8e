import type { ClaimedJob, JobRecord, LeaseRef } from "../store/job-record.js";

/** What the broker sends down one worker stream; the API layer turns it into protobuf. */
export interface SessionSink {
  /** A claimed job under its lease; `job.record` is set for streams that take full jobs. */
  job(job: ClaimedJob): void;
  settled(jobId: string, ok: boolean, error: string): void;
  leaseLost(jobId: string): void;
  cancel(jobId: string): void;
  ping(): void;
  /**
   * Sends now what this turn has batched (deliveries, answers) instead of at the end of the
   * turn: for a caller that has delivered all it has, so that latency is not a turn longer.
   */
  flush(): void;
  /** Ends the stream from the broker side. */
  close(reason: string): void;
}

export interface SessionInit {
  id: string;
  workerId: string;
  queues: string[];
  maxInFlight: number;
  sink: SessionSink;
  /** Deliveries pause while more than this many bytes of them wait for the transport. */
  maxUnreadBytes: number;
  /** Each settled job returns its credit (hello.credit_on_settle); credit messages are then moot. */
  creditOnSettle: boolean;
  /** Deliveries carry lean jobs (hello.lean_jobs); otherwise each needs the whole row. */
  leanJobs: boolean;
}

export interface HeldLease {
  jobId: string;
  leaseToken: string;
  queue: string;
  /** When the attempt times out (database time), if it has a timeout. */
  deadline: Date | null;
}

/**
 * One open worker stream: its credit, the leases it holds and when it was last heard from.
 *
 * Flow control: hello's max_in_flight is the initial credit; each delivery spends one credit
 * and `credit` messages grant more, unless the worker asked for credit_on_settle: then a
 * delivery spends none and the max_in_flight bound alone limits what runs. At most max_in_flight jobs run on a stream (delivered, not
 * yet acked or nacked), whatever credit says, so a worker that stops reading cannot make the
 * broker buffer more than that. A job whose ack or nack has arrived stops counting at once,
 * while its settlement is still being written: the next claim for the stream overlaps that
 * write instead of waiting for it. Leases stay held (and renewed) until the write commits, and
 * a stream gets no delivery while it holds twice max_in_flight leases.
 *
 * Bytes bound what a stream that stops reading makes the broker buffer, since max_in_flight
 * jobs of up to a megabyte each is a lot of memory: a delivery counts as unread until the
 * transport took it (`sent`), and while unread deliveries weigh more than maxUnreadBytes the
 * stream gets none (a claim for it gives the jobs back).
 */
export class Session {
  readonly id: string;
  readonly workerId: string;
  readonly queues: readonly string[];
  readonly maxInFlight: number;
  readonly leanJobs: boolean;
  readonly connectTime = new Date();
  lastSeenTime = new Date();
  readonly held = new Map<string, HeldLease>();
  /** Held jobs whose ack or nack arrived and is being written; they no longer run. */
  private readonly settling = new Set<string>();
  private credit: number;
  /** Credit set aside for claims in flight, so concurrent claims never over-deliver. */
  private reserved = 0;
  private open = true;
  /** The worker is stopping (drain): no more deliveries, its leases stay held and renewed. */
  private draining = false;
  private readonly maxUnreadBytes: number;
  private readonly creditOnSettle: boolean;
  /** Size of each delivery the transport has not taken yet, by job id. */
  private readonly unread = new Map<string, number>();
  private unreadBytes = 0;

  readonly sink: SessionSink;

  constructor(init: SessionInit) {
    this.id = init.id;
    this.sink = init.sink;
    this.workerId = init.workerId;
    this.queues = init.queues;
    this.maxInFlight = init.maxInFlight;
    this.credit = init.maxInFlight;
    this.maxUnreadBytes = init.maxUnreadBytes;
    this.creditOnSettle = init.creditOnSettle;
    this.leanJobs = init.leanJobs;
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** Deliveries this session can take now, beyond those already reserved. */
  get freeCredit(): number {
    if (!this.acceptsDeliveries) return 0;
    // Settlements still being written hold their leases too: capping the leases at twice
    // max_in_flight makes a database that writes them slowly slow the claims down as well,
    // instead of each ever larger settle batch letting ever more jobs out.
    const room = Math.min(this.credit, this.maxInFlight - this.running, 2 * this.maxInFlight - this.held.size);
    return Math.max(0, room - this.reserved);
  }

  /** Delivered jobs the worker is still running. */
  get running(): number {
    return this.held.size - this.settling.size;
  }

  grantCredit(n: number): void {
    // Credit beyond max_in_flight could never be spent; capping keeps the sum bounded.
    this.credit = Math.min(this.maxInFlight, this.credit + n);
  }

  reserve(n: number): void {
    this.reserved += n;
  }

  unreserve(n: number): void {
    this.reserved -= n;
  }

  private get acceptsDeliveries(): boolean {
    return this.open && !this.draining && this.unreadBytes <= this.maxUnreadBytes;
  }

  /** No more deliveries: the worker asked to finish what it holds (drain). */
  drain(): void {
    this.draining = true;
  }

  /** Hands a claimed job to the worker; false if the stream closed or stopped reading meanwhile. */
  deliver(job: ClaimedJob): boolean {
    if (!this.acceptsDeliveries) return false;
    const size = deliverySize(job);
    this.unread.set(job.id, size);
    this.unreadBytes += size;
    if (!this.creditOnSettle) this.credit -= 1;
    this.held.set(job.id, { jobId: job.id, leaseToken: job.leaseToken, queue: job.queue, deadline: job.attemptDeadline });
    this.sink.job(job);
    return true;
  }

  /** See SessionSink.flush. */
  flush(): void {
    this.sink.flush();
  }

  /** The transport took this job's delivery; true when that lets deliveries resume. */
  sent(jobId: string): boolean {
    const size = this.unread.get(jobId);
    if (size === undefined) return false;
    this.unread.delete(jobId);
    const full = !this.acceptsDeliveries;
    this.unreadBytes -= size;
    return full && this.acceptsDeliveries;
  }

  /** Takes over a lease the worker held before it reconnected (hello.resume). */
  adopt(job: JobRecord): void {
    this.held.set(job.id, { jobId: job.id, leaseToken: job.leaseToken!, queue: job.queue, deadline: job.attemptDeadline });
  }

  /** Stops deliveries but keeps the leases: the stream broke and the worker may resume them. */
  detach(): void {
    this.open = false;
  }

  /** True when the worker holds this exact lease. */
  holds(lease: LeaseRef): boolean {
    return this.held.get(lease.jobId)?.leaseToken === lease.leaseToken;
  }

  /** The worker finished this lease's job; its ack or nack is being written. */
  settle(lease: LeaseRef): void {
    if (this.holds(lease)) this.settling.add(lease.jobId);
  }

  forget(jobId: string): void {
    this.held.delete(jobId);
    this.settling.delete(jobId);
  }

  touch(): void {
    this.lastSeenTime = new Date();
  }

  /** Marks the stream closed and returns the leases it still held. */
  close(): HeldLease[] {
    this.open = false;
    const leases = [...this.held.values()];
    this.held.clear();
    this.settling.clear();
    return leases;
  }
}

/** What a delivery weighs on the wire, near enough: its payload, headers and blocker results plus the fixed fields. */
export function deliverySize(job: Pick<ClaimedJob, "payload" | "headers" | "dependsOnResults">): number {
  let bytes = 256 + job.payload.byteLength;
  for (const [name, value] of Object.entries(job.headers)) bytes += name.length + value.length;
  for (const { result } of job.dependsOnResults) bytes += 32 + (result?.byteLength ?? 0);
  return bytes;
}
