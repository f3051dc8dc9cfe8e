import type { Database } from "../store/database.js";
import { jobRenewMany } from "../store/jobs.js";
import type { Logger } from "../telemetry/log.js";
import type { Session } from "./session.js";

export interface LeaseKeeperOptions {
  db: Database;
  log: Logger;
  leaseSeconds: number;
  sessions(): Iterable<Session>;
}

/**
 * Renews every lease held by this replica's open streams in one statement, every third of
 * the lease duration, so a lease survives two missed renewals. Workers never heartbeat per job;
 * a lease that failed to renew (reaped after a database outage, settled elsewhere) is dropped
 * and its worker told with lease_lost.
 */
export class LeaseKeeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: LeaseKeeperOptions) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.renew().finally(() => (this.running = undefined));
    }, (this.options.leaseSeconds * 1000) / 3);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  async renew(): Promise<void> {
    const holders = new Map<string, Session>();
    const leases = [];
    for (const session of this.options.sessions()) {
      for (const lease of session.held.values()) {
        holders.set(lease.jobId, session);
        leases.push(lease);
      }
    }
    if (leases.length === 0) return;
    try {
      const renewed = await jobRenewMany(this.options.db, leases, this.options.leaseSeconds);
      for (const lease of leases) {
        if (renewed.has(lease.jobId)) continue;
        const session = holders.get(lease.jobId)!;
        // Settled while the renewal ran: not lost, just done.
        if (!session.holds(lease)) continue;
        session.forget(lease.jobId);
        session.sink.leaseLost(lease.jobId);
      }
    } catch (error) {
      this.options.log.warn("lease renewal failed", { error, leases: leases.length });
    }
  }
}
