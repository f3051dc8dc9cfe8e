import pg from "pg";
import { DatabaseUnreachableError } from "../errors.js";
import type { Logger } from "../util/log.js";

export interface AvailabilityOptions {
  url: string;
  log: Logger;
  /** Pause between two checks. */
  intervalMs: number;
  /** A check (opening its connection included) unanswered this long fails. */
  timeoutMs: number;
}

/**
 * Whether the database answers, as seen by one replica: readiness follows it, and while it is
 * down requests fail at once with UNAVAILABLE instead of each waiting out the timeouts. One
 * connection of its own (application_name baton-health) runs `select 1` every interval, so a
 * pool busy with long statements is not mistaken for an outage. A failed check marks the
 * database unreachable, the first check that succeeds marks it reachable again; each change is
 * logged once.
 */
export class DatabaseAvailability {
  private client: pg.Client | undefined;
  private downSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  private readonly watchers = new Set<(reachable: boolean) => void>();

  constructor(private readonly options: AvailabilityOptions) {}

  get reachable(): boolean {
    return this.downSince === undefined;
  }

  /** A client that retries after this long meets the next check's verdict. */
  get retryAfterMs(): number {
    return this.options.intervalMs;
  }

  /** Throws while the database is known to be unreachable: fail fast, do not queue. */
  assertReachable(): void {
    if (this.downSince !== undefined) throw new DatabaseUnreachableError(this.retryAfterMs);
  }

  /** A query failed as if the database were gone: check now rather than at the next tick. */
  suspect(): void {
    if (this.stopped || this.running || this.downSince !== undefined) return;
    clearTimeout(this.timer);
    this.run();
  }

  /** Calls `watcher` on every change; returns the function that stops it. */
  onChange(watcher: (reachable: boolean) => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  start(): void {
    this.stopped = false;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.dropClient();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), this.options.intervalMs);
  }

  private run(): void {
    this.running = this.check().finally(() => {
      this.running = undefined;
      this.schedule();
    });
  }

  private async check(): Promise<void> {
    try {
      await this.probe();
    } catch (error) {
      this.dropClient();
      if (this.downSince === undefined && !this.stopped) {
        this.downSince = Date.now();
        this.options.log.error("database unreachable: readiness is NOT_SERVING and requests fail with UNAVAILABLE until it answers", {
          error,
          checkTimeoutMs: this.options.timeoutMs,
        });
        this.notify(false);
      }
      return;
    }
    if (this.downSince !== undefined) {
      const outageMs = Date.now() - this.downSince;
      this.downSince = undefined;
      this.options.log.warn("database reachable again: serving", { outageMs });
      this.notify(true);
    }
  }

  private async probe(): Promise<void> {
    const { url, timeoutMs } = this.options;
    if (!this.client) {
      const client = new pg.Client({
        connectionString: url,
        application_name: "baton-health",
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
        keepAlive: true,
      });
      // A connection that dies between checks fails the next one, which replaces it.
      client.on("error", () => {});
      this.client = client;
      await client.connect();
    }
    await this.client.query("select 1");
  }

  private dropClient(): void {
    // end() destroys the socket of a connection still waiting for an answer.
    this.client?.end().catch(() => {});
    this.client = undefined;
  }

  private notify(reachable: boolean): void {
    for (const watcher of this.watchers) watcher(reachable);
  }
}
