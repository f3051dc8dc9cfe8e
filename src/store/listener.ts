import pg from "pg";
import type { Logger } from "../telemetry/log.js";

/** The channel every enqueue transaction notifies, with the queue name as payload. */
export const JOBS_CHANNEL = "baton_jobs";

export interface ListenerOptions {
  url: string;
  log: Logger;
  /** Called with the queue name of each notification. */
  onNotify(queue: string): void;
  /**
   * Called after every (re)connect: notifications sent while no connection listened are
   * lost, so the caller polls all queues at once.
   */
  onConnected(): void;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
}

export interface Listener {
  close(): Promise<void>;
}

/**
 * Keeps one connection LISTENing on the jobs channel. It never opens a transaction, and when
 * the connection dies (server restart, pg_terminate_backend, network) it reconnects with
 * capped exponential backoff and LISTENs again.
 */
export function startListener(options: ListenerOptions): Listener {
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  let client: pg.Client | undefined;
  let closed = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  const connect = async () => {
    const next = new pg.Client({ connectionString: options.url, application_name: "baton-listener" });
    next.on("notification", (message) => {
      if (message.payload) options.onNotify(message.payload);
    });
    next.on("error", (error) => {
      options.log.warn("listener connection failed", { error });
      scheduleReconnect(next);
    });
    next.on("end", () => scheduleReconnect(next));
    try {
      await next.connect();
      await next.query(`listen ${JOBS_CHANNEL}`);
    } catch (error) {
      options.log.warn("listener could not connect", { error });
      scheduleReconnect(next);
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    failures = 0;
    options.onConnected();
  };

  const scheduleReconnect = (failed: pg.Client) => {
    if (closed || retryTimer || (client !== undefined && client !== failed)) return;
    client = undefined;
    failed.removeAllListeners("end");
    failed.end().catch(() => {});
    const delay = Math.min(maxBackoffMs, 100 * 2 ** failures++) * (0.5 + Math.random() / 2);
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      void connect();
    }, delay);
  };

  void connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retryTimer);
      const current = client;
      client = undefined;
      if (current) {
        current.removeAllListeners("end");
        await current.end().catch(() => {});
      }
    },
  };
}
