/**
 * Every statement that looks jobs up by dedup_key reads an index, never the whole table: the
 * plans are checked on a realistic table (50,000 jobs, most of them finished with a key) after
 * ANALYZE, both as production plans them (generic plans, see store/database.ts) and with the
 * parameters' values known.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase } from "./helpers/database.js";
import { type PlanNode, customScans, genericScans, jobsQuery } from "./helpers/plans.js";

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: await createTestDatabase() });
  await client.connect();
  // 10 queues; per queue, jobs that succeeded with a dedup_key (most), unfinished ones with a
  // key, and dead ones without.
  await client.query(`
    insert into baton.jobs (queue, state, max_attempts, attempt, chain_id, dedup_key, finish_time, run_time)
    select 'q' || (g % 10),
           case when g % 10 < 8 then 'succeeded' when g % 10 = 8 then 'available' else 'dead' end::baton.job_state,
           1, case when g % 10 = 8 then 0 else 1 end, g,
           case when g % 10 <= 8 then 'key-' || g end,
           case when g % 10 <> 8 then now() - make_interval(secs => g) end,
           now() - make_interval(secs => g)
    from generate_series(1, 50000) g`);
  await client.query("analyze baton.jobs");
}, 60_000);

afterAll(() => client?.end());

/**
 * Both plans read `index`, and neither scans the jobs table sequentially (`except` the scans
 * that are not about dedup_key: a bulk retry reads a whole queue).
 */
async function expectIndexBacked(
  { text, values }: { text: string; values: unknown[] },
  index: string,
  except: "none" | "not-by-key" = "none",
): Promise<void> {
  for (const found of [await genericScans(client, text, values), await customScans(client, text, values)]) {
    const forbidden = except === "none" ? /^Seq Scan/ : /^Seq Scan.*\(dedup_key\)$/;
    expect(found.filter((scan) => forbidden.test(scan))).toEqual([]);
    expect(found.some((scan) => scan.endsWith(index))).toBe(true);
  }
}

test("the insert's dedup_window check reads finished jobs by (queue, dedup_key)", async () => {
  const n = 25;
  const some = <T>(value: T) => Array.from({ length: n }, () => value);
  const insert = jobsQuery("JobInsertMany", {
    queues: some("q1"),
    payloads: some(Buffer.alloc(0)),
    headers: some("{}"),
    priorities: some(0),
    dedupKeys: Array.from({ length: n }, (_, i) => `new-${i}`),
    defaultMaxAttempts: 25,
    dedupWindowSeconds: some(3600),
  });
  await expectIndexBacked(insert, "jobs_dedup_finished_idx");
});

test("the upsert of REPLACE and DEBOUNCE finds a key's holder through the unique index, for its lock order and its conflict", async () => {
  const n = 25;
  const some = <T>(value: T) => Array.from({ length: n }, () => value);
  const { text, values } = jobsQuery("JobUpsertMany", {
    queues: some("q1"),
    payloads: some(Buffer.alloc(0)),
    headers: some("{}"),
    priorities: some(0),
    dedupKeys: Array.from({ length: n }, (_, i) => `key-${i * 10 + 8}`),
    defaultMaxAttempts: 25,
    replacePayload: some(true),
  });
  await expectIndexBacked({ text, values }, "jobs_dedup_idx");
  const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`explain (format json) ${text}`, values);
  expect(arbiters(rows[0]!["QUERY PLAN"][0].Plan)).toEqual(["jobs_dedup_idx"]);
});

/** The indexes through which the plan's inserts find their conflicts. */
function arbiters(node: PlanNode): string[] {
  return [...(node["Conflict Arbiter Indexes"] ?? []), ...(node.Plans ?? []).flatMap(arbiters)];
}

test("the dedup_window race check after the insert reads unfinished and finished jobs by key, not the table", async () => {
  const { rows } = await client.query<{ id: string }>("select id from baton.jobs where state = 'available' limit 25");
  const raced = jobsQuery("JobDedupWindowRaced", { ids: rows.map((r) => r.id), windowSeconds: rows.map(() => 3600) });
  await expectIndexBacked(raced, "jobs_dedup_finished_idx");
  await expectIndexBacked(raced, "jobs_dedup_idx");
});

test("the jobs that deduplicated requests resolved to are read by key", async () => {
  await expectIndexBacked(jobsQuery("JobGetUnfinishedByDedupKey", { queues: ["q1", "q2"], dedupKeys: ["key-11", "key-22"] }), "jobs_dedup_idx");
});

test("RetryJob finds its job by primary key and the holder of its dedup_key by index", async () => {
  const { rows } = await client.query<{ id: string }>("select id from baton.jobs where state = 'dead' limit 1");
  const byId = jobsQuery("JobRetry", { ids: [rows[0]!.id] });
  await expectIndexBacked(byId, "jobs_pkey", "not-by-key");
  await expectIndexBacked(byId, "jobs_dedup_idx", "not-by-key");
});

test("baton.enqueue (SQL) finds the holder of a key by index", async () => {
  const { rows } = await client.query<{ prosrc: string }>("select prosrc from pg_proc where proname = 'enqueue'");
  expect(rows[0]!.prosrc).toMatch(/on conflict \(queue, dedup_key\)/);
  await expectIndexBacked(
    {
      text: "select j.id from baton.jobs j where j.queue = $1 and j.dedup_key = $2 and j.state in ('available', 'blocked', 'leased')",
      values: ["q1", "key-18"],
    },
    "jobs_dedup_idx",
  );
});
