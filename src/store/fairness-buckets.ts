import type { Queryable } from "./database.js";
import { type Now, loadStatements, param, run, statement } from "./statements.js";

const sql = loadStatements(new URL("./sql/fairness-buckets.sql", import.meta.url), {
  FairnessBucketDeleteUnneeded: statement({ limit: param<number>(), now: param<Now>() }),
});

/**
 * Deletes up to `limit` rows of fairness-key token buckets that are full again (or whose queue
 * lost its fairness_rate_limit), so the table holds the keys that started jobs lately, not
 * every tenant ever seen. Returns how many.
 */
export async function fairnessBucketDeleteUnneeded(db: Queryable, limit: number, now: Now = null): Promise<number> {
  const result = await run(db, sql.FairnessBucketDeleteUnneeded, { limit, now });
  return result.rowCount ?? 0;
}
