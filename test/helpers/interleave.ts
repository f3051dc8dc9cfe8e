import pg from "pg";
import { sql } from "./database.js";
import { eventually } from "./wait.js";

/** A connection of its own, in a transaction, for interleaving statements by hand. */
export async function openTransaction(url: string): Promise<pg.Client & { pid: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const { rows } = await client.query<{ pid: number }>("select pg_backend_pid() as pid");
  await client.query("begin");
  return Object.assign(client, { pid: rows[0]!.pid });
}

/** Resolves once `pending` settled or the backend `pid` waits for a lock: it can go no further alone. */
export async function settledOrBlocked(url: string, pending: Promise<unknown>, pid: number): Promise<void> {
  let done = false;
  void pending.then(
    () => (done = true),
    () => (done = true),
  );
  await eventually(
    async () => done || (await sql(url, "select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'", [pid])).length > 0,
    { timeoutMs: 10_000, what: `the second transaction's statement to finish or wait for a lock` },
  );
}

/**
 * Runs `first` in one transaction and, while it is uncommitted, `second` in another (which
 * then waits for a lock the first holds, or finishes); commits the first, then the second.
 */
export async function interleaved(url: string, first: (tx: pg.Client) => Promise<unknown>, second: (tx: pg.Client) => Promise<unknown>): Promise<void> {
  const [a, b] = [await openTransaction(url), await openTransaction(url)];
  try {
    await first(a);
    const pending = second(b);
    await settledOrBlocked(url, pending, b.pid);
    await a.query("commit");
    await pending;
    await b.query("commit");
  } finally {
    await Promise.all([a.end(), b.end()]);
  }
}
