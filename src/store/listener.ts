import pg from "pg";
import type { Logger } from "../util/log.js";
import type { DatabaseAvailability } from "./availability.js";

/** Notification channels. Payloads are queue names, except baton_cancel's (a job id) and baton_tokens' (a token id). */
export const CHANNELS = {
  /** Jobs became runnable on a queue (enqueue, retry, resume). */
  jobs: "baton_jobs",
  /** Jobs of a queue reached a terminal state (or freed concurrency). */
  finished: "baton_finished",
  /** A leased job was asked to stop. */
  cancel: "baton_cancel",
  /** A queue's settings changed (pause, resume, update). */
  queues: "baton_queues",
  /** An API token was revoked (payload: its id); streams opened with it must end. */
  tokens: "baton_tokens",
} as const;

export type Channel = (typeof CHANNELS)[keyof typeof CHANNELS];

/** Handler per channel, called with each notification's payload. */
export type NotificationHandlers = Partial<Record<Channel, (payload: string) => void>>;

export interface ListenerOptions {
  url: string;
  log: Logger;
  handlers: NotificationHandlers;
  /**
   * Called after every (re)connect: notifications sent while no connection listened are
   * lost, so the caller polls at once.
   */
  onConnected(): void;
  /** Longest wait between reconnect attempts. */
  maxBackoffMs?: number;
  /** Bounds each connect attempt, so one made during a network partition does not hang. */
  connectTimeoutMs?: number;
  /**
   * When the database comes back from an outage, the connection is replaced: one that lived
   * through a partition may be dead without knowing it (an idle LISTEN connection sends
   * nothing), and the reconnect polls for what was missed.
   */
  availability?: DatabaseAvailability;
}

export interface Listener {
  close(): Promise<void>;
}

/**
 * Keeps one connection LISTENing on Baton's channels. It never opens a transaction, and when
 * the connection dies (server restart, pg_terminate_backend, network) it reconnects with
 * capped exponential backoff and LISTENs again.
 */
export function startListener(options: ListenerOptions): Listener {
  const maxBackoffMs = options.maxBackoffMs ?? 5_000;
  const channels = Object.keys(options.handlers) as Channel[];
  let client: pg.Client | undefined;
  let closed = false;
  let failures = 0;
  let retryTimer: NodeJS.Timeout | undefined;
  let connecting = false;

  const connect = async () => {
    const next = new pg.Client({
      connectionString: options.url,
      application_name: "baton-listener",
      keepAlive: true,
      ...(options.connectTimeoutMs !== undefined && { connectionTimeoutMillis: options.connectTimeoutMs, query_timeout: options.connectTimeoutMs }),
    });
    next.on("notification", (message) => {
      options.handlers[message.channel as Channel]?.(message.payload ?? "");
    });
    next.on("error", (error) => {
      options.log.warn("listener connection failed", { error });
      scheduleReconnect(next);
    });
    next.on("end", () => scheduleReconnect(next));
    connecting = true;
    try {
      await next.connect();
      await next.query(channels.map((channel) => `listen ${channel};`).join(" "));
    } catch (error) {
      // During an outage the availability check has said so once; each retry need not.
      if (options.availability?.reachable !== false) options.log.warn("listener could not connect", { error });
      scheduleReconnect(next);
      return;
    } finally {
      connecting = false;
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

  // An attempt in flight, or one scheduled, will connect anew anyway.
  const replace = () => {
    const current = client;
    if (closed || connecting || retryTimer || !current) return;
    failures = 0;
    scheduleReconnect(current);
  };
  const unwatch = options.availability?.onChange((reachable) => reachable && replace());

  void connect();
  return {
    async close() {
      closed = true;
      unwatch?.();
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
