import { randomUUID } from "node:crypto";
import { type Periodic, startPeriodic } from "../maintenance/periodic.js";
import { startReaper } from "../maintenance/reaper.js";
import type { Database } from "../store/database.js";
import type { LeaseRef, NewJob } from "../store/job-record.js";
import { type InsertedJob, type Nack, type ProgressUpdate, type RetryPolicy, jobInsertMany, jobReleaseMany } from "../store/jobs.js";
import { type Listener, startListener } from "../store/listener.js";
import type { Logger } from "../telemetry/log.js";
import { Completer } from "./completer.js";
import { Dispatcher } from "./dispatcher.js";
import { LeaseKeeper } from "./lease-keeper.js";
import { Session, type SessionSink } from "./session.js";

export interface BrokerConfig {
  /** Lease length; renewed every third of it while the stream lives. */
  leaseSeconds: number;
  /** Fallback poll for missed notifications, jittered ±20%. */
  pollIntervalMs: number;
  /** How often each replica looks for expired leases. */
  reapIntervalMs: number;
  /** App-level ping period; a stream silent for three periods is closed. */
  pingIntervalMs: number;
  retryPolicy: RetryPolicy;
  maxClaimBatch: number;
}

export interface BrokerOptions {
  db: Database;
  databaseUrl: string;
  log: Logger;
  config: BrokerConfig;
  replicaId?: string;
}

export interface OpenSessionParams {
  workerId: string;
  queues: string[];
  maxInFlight: number;
  sink: SessionSink;
}

/**
 * The live part of one replica: worker sessions, the dispatcher that feeds them, the completer
 * that settles their acks, the lease keeper, the LISTEN connection and the reaper.
 */
export class Broker {
  readonly replicaId: string;
  private readonly sessions = new Map<string, Session>();
  private readonly dispatcher: Dispatcher;
  private readonly completer: Completer;
  private readonly leaseKeeper: LeaseKeeper;
  private readonly background: Periodic[] = [];
  private listener: Listener | undefined;
  private pingTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: BrokerOptions) {
    const { db, log, config } = options;
    this.replicaId = options.replicaId ?? `replica-${randomUUID().slice(0, 8)}`;
    this.dispatcher = new Dispatcher({
      db,
      log,
      replicaId: this.replicaId,
      leaseSeconds: config.leaseSeconds,
      maxClaimBatch: config.maxClaimBatch,
    });
    this.completer = new Completer({
      db,
      log,
      retryPolicy: config.retryPolicy,
      onJobsRunnable: (queues) => this.dispatcher.wakeQueues(queues),
    });
    this.leaseKeeper = new LeaseKeeper({ db, log, leaseSeconds: config.leaseSeconds, sessions: () => this.sessions.values() });
  }

  get config(): BrokerConfig {
    return this.options.config;
  }

  start(): void {
    const { db, log, config, databaseUrl } = this.options;
    this.listener = startListener({
      url: databaseUrl,
      log,
      onNotify: (queue) => this.dispatcher.wake(queue),
      onConnected: () => this.dispatcher.wakeAll(),
    });
    this.background.push(
      startPeriodic("poll", config.pollIntervalMs, 0.2, log, async () => this.dispatcher.wakeAll()),
      startReaper({ db, log, intervalMs: config.reapIntervalMs, onRequeued: (queues) => this.dispatcher.wakeQueues(queues) }),
    );
    this.leaseKeeper.start();
    this.pingTimer = setInterval(() => this.pingSessions(), config.pingIntervalMs);
  }

  /** Creates jobs atomically; queues with runnable jobs on this replica are woken at once. */
  async enqueue(jobs: NewJob[]): Promise<InsertedJob[]> {
    const inserted = await jobInsertMany(this.options.db, jobs);
    // The notification reaches every replica, this one included; waking here saves its latency.
    this.dispatcher.wakeQueues(new Set(jobs.map((job) => job.queue)));
    return inserted;
  }

  openSession(params: OpenSessionParams): Session {
    const session = new Session({ id: randomUUID(), ...params });
    this.sessions.set(session.id, session);
    this.dispatcher.add(session);
    return session;
  }

  /** Ends a session; the jobs it still held go back to their queues at once. */
  async closeSession(session: Session, reason: string): Promise<void> {
    if (!this.sessions.delete(session.id)) return;
    this.dispatcher.remove(session);
    // Acks the stream sent before it ended must land before its leases are released, or a
    // finished job would run again.
    await this.completer.drain();
    const leases = session.close();
    if (leases.length === 0) return;
    try {
      const queues = await jobReleaseMany(this.options.db, leases, reason);
      this.dispatcher.wakeQueues(queues);
    } catch (error) {
      // The leases stop being renewed, so the reaper re-queues them after expiry.
      this.options.log.warn("releasing leases failed; they will expire", { error, jobs: leases.length });
    }
  }

  grantCredit(session: Session, n: number): void {
    session.grantCredit(n);
    this.dispatcher.wakeQueues(session.queues);
  }

  ack(session: Session, lease: LeaseRef, result: Uint8Array, continueWith: NewJob[]): void {
    if (continueWith.length > 0) this.completer.ackWithContinuation(session, { ...lease, result, continueWith });
    else this.completer.ack(session, { ...lease, result });
  }

  nack(session: Session, nack: Nack): void {
    this.completer.nack(session, nack);
  }

  reportProgress(session: Session, update: ProgressUpdate): void {
    if (session.holds(update)) this.completer.reportProgress(update);
  }

  listSessions(): Session[] {
    return [...this.sessions.values()];
  }

  /**
   * Graceful stop: claim nothing more, give workers up to `drainMs` to settle what they hold,
   * then release the rest and stop the background loops.
   */
  async shutdown(drainMs: number): Promise<void> {
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
    clearInterval(this.pingTimer);
    await this.leaseKeeper.stop();
    await Promise.all(this.background.map((loop) => loop.stop()));
    await this.listener?.close();
  }

  private pingSessions(): void {
    const silentSince = Date.now() - 3 * this.options.config.pingIntervalMs;
    for (const session of this.sessions.values()) {
      if (session.lastSeenTime.getTime() < silentSince) {
        this.options.log.warn("closing silent worker stream", { session: session.id, worker: session.workerId });
        void this.closeSession(session, "worker stream went silent");
        session.sink.close("worker did not answer pings");
      } else {
        session.sink.ping();
      }
    }
  }
}
