import { WriteBatcher } from "../util/write-batcher.js";
import type { Logger } from "../util/log.js";
import type { Queryable } from "./database.js";
import type { Channel } from "./listener.js";
import { loadStatements, param, run, statement } from "./statements.js";

const sql = loadStatements(new URL("./sql/notify.sql", import.meta.url), {
  NotifyMany: statement({ channels: param<Channel[]>(), payloads: param<string[]>() }),
});

/**
 * Sends the wakeups of settled jobs after their writes commit, outside those transactions.
 * PostgreSQL holds a database-wide lock from a notifying transaction's pre-commit until its
 * commit is flushed to disk, so write transactions that notify commit one at a time: on the
 * bench machine, 3.4k commits/s on 8 connections with NOTIFY against 12k without. Settlements
 * are the busiest writes, so theirs go here: one statement per batch, each (channel, payload)
 * once, no WAL. Best effort by design: a wakeup lost to a crash between the commit and this
 * statement, or to a failed statement, is made up by every replica's fallback poll.
 */
export class Notifier {
  private readonly batcher: WriteBatcher<{ channel: Channel; payload: string }>;

  constructor(db: Queryable, log: Logger) {
    this.batcher = new WriteBatcher(async (batch) => {
      const unique = [...new Map(batch.map((n) => [`${n.channel}\u0000${n.payload}`, n])).values()];
      try {
        await run(db, sql.NotifyMany, { channels: unique.map((n) => n.channel), payloads: unique.map((n) => n.payload) });
      } catch (error) {
        log.warn("sending wakeups failed; replicas find the work at their next poll", { error, notifications: unique.length });
      }
    });
  }

  notify(channel: Channel, payloads: Iterable<string>): void {
    for (const payload of payloads) this.batcher.add({ channel, payload });
  }

  /** Resolves once every wakeup so far is sent (or given up). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }
}
