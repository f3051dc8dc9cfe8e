/**
 * The claim, the settlements and the insert read baton.jobs through indexes, never the whole table: plans are
 * checked with EXPLAIN on a table of realistic size (240,000 jobs in every state, a backlog of
 * 20,000 in one queue) after ANALYZE, both as production plans them (generic plans, see
 * store/database.ts) and with the parameters' values known. The lookups that must read an
 * index even when a plan was built while the table was empty (migration 0009_claim_plans) are
 * checked on such a plan too.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase } from "./helpers/database.js";
import { customScans, executedPlans, genericScans, jobsQuery, relationScans } from "./helpers/plans.js";

/**
 * 240,000 jobs over 10 queues, most finished, some available (a few of them not yet due, at
 * three priorities), leased or blocked; and "backlog", 20,000 due jobs and 30 scheduled ones,
 * the one queue of a typical bench.
 */
const FILL = `
  insert into baton.jobs (queue, state, max_attempts, attempt, chain_id, finish_time, run_time, priority,
                          lease_token, lease_expire_time, lease_owner, fairness_key)
  select 'q' || (g % 10), s.state, 3, case when s.state in ('available', 'blocked') then 0 else 1 end, g,
         case when s.state in ('succeeded', 'dead', 'cancelled') then now() - make_interval(secs => g % 86400) end,
         case when s.state = 'available' and g % 7 = 0 then now() + make_interval(secs => 60 + g % 3600)
              else now() - make_interval(secs => g % 86400) end,
         g % 3,
         case when s.state = 'leased' then gen_random_uuid() end,
         case when s.state = 'leased' then now() + interval '1 minute' end,
         case when s.state = 'leased' then 'replica' end,
         case when g % 10 = 7 then 'tenant-' || (g % 1000) end
  from generate_series(1, 240000) g
  cross join lateral (
    select case when g % 100 < 85 then 'succeeded' when g % 100 < 95 then 'available' when g % 100 < 97 then 'leased'
                when g % 100 < 98 then 'blocked' when g % 100 < 99 then 'dead' else 'cancelled' end::baton.job_state as state
  ) s;
  insert into baton.jobs (queue, max_attempts, chain_id, run_time, priority)
  select 'backlog', 3, g, case when g <= 20000 then now() - interval '1 minute' else now() + make_interval(secs => g) end, g % 3
  from generate_series(1, 20030) g;
  insert into baton.queues (name, concurrency_limit, fairness_key_limit, fairness_rate_limit) values ('q7', 100, 5, 50);
  insert into baton.fairness_buckets (queue, fairness_key, tokens, refill_time)
  select 'q' || (g % 10), 'tenant-' || (g / 10), 0, now() from generate_series(1, 50000) g;`;

let url: string;
let client: pg.Client;

beforeAll(async () => {
  url = await createTestDatabase();
  client = new pg.Client({ connectionString: url });
  await client.connect();
  await client.query(FILL);
  await client.query("analyze baton.jobs");
  await client.query("analyze baton.fairness_buckets");
}, 120_000);

afterAll(() => client?.end());

async function fillSkippingTriggers(databaseUrl: string): Promise<void> {
  const filler = new pg.Client({ connectionString: databaseUrl });
  await filler.connect();
  try {
    await filler.query("set session_replication_role = replica");
    await filler.query(FILL);
  } finally {
    await filler.end();
  }
}

/** Both plans read `index` and neither scans the jobs table sequentially. */
async function expectIndexBacked({ text, values }: { text: string; values: unknown[] }, index: string): Promise<void> {
  for (const found of [await genericScans(client, text, values), await customScans(client, text, values)]) {
    expect(found.filter((scan) => scan.startsWith("Seq Scan"))).toEqual([]);
    expect(found.some((scan) => scan.endsWith(index))).toBe(true);
  }
}

/** The scans of the statements run inside the named function while `run` executes. */
async function scansInside(name: string, body: RegExp, run: () => Promise<unknown>): Promise<string[]> {
  const plans = await executedPlans(client, run);
  const inside = plans.filter((plan) => body.test(plan.text));
  expect(inside.length, `no statement of ${name} ran`).toBeGreaterThan(0);
  return inside.flatMap((plan) => plan.scans);
}

const NEXT_DUE_BODY = /with recursive priorities/;
const CHAIN_OF_BODY = /select j\.chain_id from baton\.jobs j where j\.id = parent/;

/** JobClaim's parameters: a batch of 160 from `queues`, starting with the first, for streams with `labels`. */
const claimOf = (queues: string[], labels = "{}") => jobsQuery("JobClaim", { queues, limit: 160, leaseSeconds: 30, owner: "replica-1", first: 0, labels });
const limitedClaim = (labels = "{}") => jobsQuery("JobClaimLimited", { queue: "q7", limit: 160, leaseSeconds: 30, owner: "replica-1", labels });

/** JobInsertMany for `n` continuations of `parent` in queue q1. */
function continuations(n: number, parent: string) {
  const some = <T>(value: T) => Array.from({ length: n }, () => value);
  return jobsQuery("JobInsertMany", { queues: some("q1"), payloads: some(Buffer.alloc(0)), headers: some("{}"), priorities: some(0), parentIds: some(parent), defaultMaxAttempts: 25 });
}

/** Runs `query` in a transaction that is rolled back, as the app runs it. */
async function runAndRollBack(query: { name: string; text: string; values: unknown[] }): Promise<pg.QueryResult> {
  await client.query("begin");
  try {
    return await client.query(query);
  } finally {
    await client.query("rollback");
  }
}

test("JobClaim reads its candidates from jobs_claim_idx, for one queue's backlog and for several queues", async () => {
  await expectIndexBacked(claimOf(["backlog"]), "jobs_claim_idx");
  await expectIndexBacked(claimOf(["q1", "q2", "q3"]), "jobs_claim_idx");
});

test("JobClaimLimited reads its candidates from jobs_claim_idx and its running jobs from jobs_leased_queue_idx", async () => {
  await expectIndexBacked(limitedClaim(), "jobs_claim_idx");
});

test("JobClaimLimited reads the token buckets of its queue's fairness keys through fairness_buckets_pkey", async () => {
  // 50,000 buckets of 10 queues: a claim reads its own queue's, never the whole table.
  const { text, values } = limitedClaim();
  for (const found of [await genericScans(client, text, values, relationScans("fairness_buckets")), await customScans(client, text, values, relationScans("fairness_buckets"))]) {
    expect(found.filter((scan) => scan.startsWith("Seq Scan"))).toEqual([]);
    expect(found.some((scan) => scan.endsWith("fairness_buckets_pkey"))).toBe(true);
  }
});

test("claims for streams with labels read their candidates from jobs_claim_idx", async () => {
  const labels = JSON.stringify({ gpu: "a100", region: "eu" });
  for (const query of [claimOf(["backlog"], labels), claimOf(["q1", "q2", "q3"], labels), limitedClaim(labels)]) {
    await expectIndexBacked(query, "jobs_claim_idx");
  }
});

test("the claims read one queue's backlog from jobs_claim_idx, whatever the labels, on a table that holds only that queue", async () => {
  // Estimated at 1% of the rows, a containment test alone made JobClaimLimited's generic plan
  // read this table whole and sort it (see LabelsMatch in jobs.sql).
  const oneQueueUrl = await createTestDatabase();
  const oneQueue = new pg.Client({ connectionString: oneQueueUrl });
  await oneQueue.connect();
  try {
    await oneQueue.query(`insert into baton.jobs (queue, max_attempts, chain_id, run_time, priority, worker_labels)
      select 'backlog', 3, g, now() - interval '1 minute', g % 3, case when g % 50 = 0 then '{"gpu": "a100"}'::jsonb else '{}' end
      from generate_series(1, 150000) g`);
    await oneQueue.query("vacuum analyze baton.jobs");
    for (const labels of ["{}", JSON.stringify({ gpu: "t4" })]) {
      const claim = claimOf(["backlog"], labels);
      for (const found of [await genericScans(oneQueue, claim.text, claim.values), await customScans(oneQueue, claim.text, claim.values)]) {
        expect(found.filter((scan) => scan.startsWith("Seq Scan") || scan.startsWith("Bitmap")), labels).toEqual([]);
        expect(found, labels).toContain("Index Scan jobs_claim_idx");
      }
      // Its locking and updating by id may read the table (they did before labels, on a
      // table this small next to its batch); its candidates come from the index. The backlog is
      // larger than the 100,000 due jobs JobClaimLimited looks at: on a smaller one, reading
      // every row and sorting them is a fair plan too, and PostgreSQL 15 takes it.
      const limited = jobsQuery("JobClaimLimited", { queue: "backlog", limit: 160, leaseSeconds: 30, owner: "replica-1", labels });
      expect((await genericScans(oneQueue, limited.text, limited.values)).some((scan) => scan.endsWith("jobs_claim_idx")), labels).toBe(true);
    }
  } finally {
    await oneQueue.end();
  }
}, 60_000);

test("the claims' next due time is a few descents of jobs_claim_idx per priority, and right", async () => {
  for (const query of [claimOf(["backlog", "q1"]), limitedClaim()]) {
    let result: pg.QueryResult | undefined;
    const scans = await scansInside("baton.next_due_time", NEXT_DUE_BODY, async () => {
      result = await runAndRollBack(query);
    });
    expect(scans.filter((scan) => !scan.endsWith("jobs_claim_idx"))).toEqual([]);
    const queues = query.name === "JobClaim" ? ["backlog", "q1"] : ["q7"];
    const { rows } = await client.query<{ next: Date }>(
      "select min(run_time) as next from baton.jobs where queue = any($1) and state = 'available' and run_time > now()",
      [queues],
    );
    expect(result!.rows[0].next_due_time).toEqual(rows[0]!.next);
  }
});

test("acks, nacks and renewals lock their rows through jobs_pkey, on a big table and on a drain's", async () => {
  // A join with the batch made PostgreSQL hash the whole table once the batch looked large
  // next to it: a drain of 40,000 jobs, half of them leased, and acks of 1,000.
  const drainUrl = await createTestDatabase();
  const drain = new pg.Client({ connectionString: drainUrl });
  await drain.connect();
  try {
    await drain.query(`insert into baton.jobs (queue, max_attempts, chain_id, state, attempt, lease_token, lease_expire_time, lease_owner)
      select 'backlog', 3, g, s.state, s.attempt, s.token, s.expiry, s.owner
      from generate_series(1, 40000) g
      cross join lateral (select case when g % 2 = 0 then 'leased' else 'available' end::baton.job_state as state) k
      cross join lateral (select k.state, (k.state = 'leased')::int as attempt,
                                 case when k.state = 'leased' then gen_random_uuid() end as token,
                                 case when k.state = 'leased' then now() + interval '1 minute' end as expiry,
                                 case when k.state = 'leased' then 'replica' end as owner) s`);
    await drain.query("vacuum analyze baton.jobs");
    for (const [db, n] of [[client, 1], [client, 1000], [drain, 1], [drain, 1000]] as const) {
      const { rows } = await db.query<{ id: string; lease_token: string }>(
        "select id, lease_token from baton.jobs where state = 'leased' order by id limit $1",
        [n],
      );
      const ids = rows.map((row) => row.id);
      const tokens = rows.map((row) => row.lease_token);
      const leases = { ids, leaseTokens: tokens };
      const statements = [
        jobsQuery("JobAckMany", { ...leases, results: rows.map(() => Buffer.alloc(0)) }),
        jobsQuery("JobFailMany", { ...leases, errors: rows.map(() => "failed"), retryDelaySeconds: rows.map(() => null), retryBaseSeconds: 1, retryMaxSeconds: 60, deadLetters: rows.map(() => false) }),
        jobsQuery("JobRenewMany", { ...leases, leaseSeconds: 30 }),
      ];
      for (const { name, text, values } of statements) {
        for (const found of [await genericScans(db, text, values), await customScans(db, text, values)]) {
          const what = `${name}, ${n} of ${db === drain ? "a drain's" : "the big"} table`;
          expect(found.filter((scan) => scan.startsWith("Seq Scan")), what).toEqual([]);
          expect(found, what).toContain("Index Scan jobs_pkey");
        }
      }
    }
  } finally {
    await drain.end();
  }
}, 120_000);

test("JobInsertMany finds each continuation's chain by primary key", async () => {
  const { rows } = await client.query<{ id: string }>("select id from baton.jobs where queue = 'q1' and state = 'succeeded' limit 1");
  const insert = continuations(25, rows[0]!.id);
  for (const found of [await genericScans(client, insert.text, insert.values), await customScans(client, insert.text, insert.values)]) {
    expect(found.filter((scan) => scan.startsWith("Seq Scan"))).toEqual([]);
  }
  const scans = await scansInside("baton.chain_of", CHAIN_OF_BODY, () => runAndRollBack(insert));
  expect(new Set(scans)).toEqual(new Set(["Index Scan jobs_pkey"]));
});

test("plans built while the jobs table was empty still find chains and the next due time by index once it filled", async () => {
  const emptyUrl = await createTestDatabase();
  const empty = new pg.Client({ connectionString: emptyUrl });
  await empty.connect();
  try {
    await empty.query("vacuum analyze baton.jobs");
    await empty.query("set plan_cache_mode = force_generic_plan");
    const root = await empty.query<{ id: string }>(
      "insert into baton.jobs (queue, max_attempts, chain_id, state, attempt, finish_time) values ('q1', 1, 0, 'succeeded', 1, now()) returning id",
    );
    await empty.query("vacuum analyze baton.jobs");
    // The claims' own candidate scans are not checked here: on such a plan they read the
    // whole queue (see the report of migration 0009); the claims call next_due_time as this does.
    const statements = {
      NextDueTime: { text: "select baton.next_due_time($1::text[], now())", values: [["backlog", "q1"]] },
      JobInsertMany: continuations(3, root.rows[0]!.id),
    };
    // The first run builds each statement's generic plan on the table as it is now: one job.
    for (const [name, { text, values }] of Object.entries(statements)) await empty.query({ name, text, values });
    // Filled without ANALYZE, the statistics still say one job, and the plans stay cached. The
    // fill skips the insert triggers (their telemetry is not under test, and on statistics that
    // say one job they take minutes for it); from another connection, since changing
    // session_replication_role drops this one's cached plans.
    await fillSkippingTriggers(emptyUrl);
    for (const [name, { text, values }] of Object.entries(statements)) {
      const plans = await executedPlans(empty, () => empty.query({ name, text, values }));
      expect(plans.some((plan) => NEXT_DUE_BODY.test(plan.text) || CHAIN_OF_BODY.test(plan.text)), name).toBe(true);
      // Every statement run inside: the functions' and the insert triggers' (trace context,
      // telemetry), which read jobs by primary key if at all.
      const nested = plans.filter((plan) => plan.text !== text);
      expect(nested.flatMap((plan) => plan.scans).filter((scan) => !/^Index (Only )?Scan/.test(scan) && scan !== "ModifyTable")).toEqual([]);
    }
  } finally {
    await empty.end();
  }
}, 120_000);
