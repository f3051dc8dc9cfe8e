/**
 * The queue history's reads and its retention sweep go through indexes, not the whole table:
 * one queue's series by the primary key (queue, bucket), every queue's by the bucket index, and
 * the sweep by the bucket index. Checked on three days of minutes for 50 queues after ANALYZE,
 * with the parameters' values known, as the store runs them.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase } from "./helpers/database.js";
import { type PlanNode, historyQuery } from "./helpers/plans.js";

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: await createTestDatabase() });
  await client.connect();
  await client.query(`
    insert into baton.queue_history (queue, bucket, enqueued, succeeded)
    select 'q' || q, date_trunc('minute', now()) - make_interval(mins => m), 1, 1
    from generate_series(1, 50) q, generate_series(0, 3 * 1440 - 1) m`);
  await client.query("analyze baton.queue_history");
}, 60_000);

afterAll(() => client?.end());

/** The indexes of baton.queue_history the plan reads, and whether it reads the whole table anywhere. */
async function historyReads(query: { text: string; values: unknown[] }): Promise<{ indexes: string[]; seqScan: boolean }> {
  const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`explain (format json) ${query.text}`, query.values);
  const nodes = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodes)];
  const all = nodes(rows[0]!["QUERY PLAN"][0].Plan);
  return {
    indexes: [...new Set(all.flatMap((n) => (n["Index Name"]?.startsWith("queue_history") ? [n["Index Name"]] : [])))],
    seqScan: all.some((n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "queue_history"),
  };
}

test("one queue's hour reads the primary key; every queue's hour reads the bucket index", async () => {
  expect(await historyReads(historyQuery("QueueHistorySeries", { queue: "q7", stepSeconds: 60, points: 60 }))).toEqual({ indexes: ["queue_history_pkey"], seqScan: false });
  expect(await historyReads(historyQuery("QueueHistorySeries", { stepSeconds: 60, points: 60 }))).toEqual({ indexes: ["queue_history_bucket_idx"], seqScan: false });
  const { rows } = await client.query<{ succeeded: string }>(historyQuery("QueueHistorySeries", { stepSeconds: 60, points: 60 }));
  expect(rows).toHaveLength(60);
  expect(rows.slice(0, -1).every((r) => Number(r.succeeded) === 50)).toBe(true);
});

test("the retention sweep reads the bucket index, oldest first", async () => {
  expect(await historyReads(historyQuery("QueueHistoryDeleteExpired", { retentionSeconds: 2 * 86400, limit: 1000 }))).toEqual({
    indexes: ["queue_history_bucket_idx"],
    seqScan: false,
  });
});
