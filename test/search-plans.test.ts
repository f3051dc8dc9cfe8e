/**
 * ListJobs and the bulk operations find jobs by header and by create_time through indexes,
 * not by reading the table: checked on 200,000 jobs after ANALYZE (a table whose size leaves the
 * planner no near choice: on 50,000 a GIN scan and the alternatives cost close enough to flip). These statements run
 * unprepared (runPlannedEachTime), so the plan checked is the one made for the values.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase } from "./helpers/database.js";
import { customScans, jobsQuery } from "./helpers/plans.js";

let client: pg.Client;
let newest: Date;

beforeAll(async () => {
  client = new pg.Client({ connectionString: await createTestDatabase() });
  await client.connect();
  // 10 queues, 1,000 tenants of 100 jobs each plus 100,000 jobs without headers, one job
  // created per second (newer ids later).
  await client.query(`
    insert into baton.jobs (queue, state, max_attempts, attempt, chain_id, headers, create_time, finish_time)
    select 'q' || (g % 10), 'succeeded', 1, 1, g,
           case when g % 2 = 0 then '{}' else jsonb_build_object('tenant', 't' || (g % 1000), 'traceparent', md5(g::text)) end,
           timestamptz '2030-01-01' + make_interval(secs => g), timestamptz '2030-01-01' + make_interval(secs => g + 1)
    from generate_series(1, 200000) g`);
  await client.query("vacuum analyze baton.jobs");
  newest = new Date(Date.parse("2030-01-01T00:00:00Z") + 200_000_000);
}, 60_000);

afterAll(() => client?.end());

const page = (filter: Record<string, unknown>) => jobsQuery("JobListPage", { ...filter, limit: 100, maxBytes: 1 << 20 });
const batch = (filter: Record<string, unknown>) => jobsQuery("JobMatchIds", { ...filter, limit: 1000 });

async function expectIndexBacked({ text, values }: { text: string; values: unknown[] }, index: string): Promise<void> {
  const scans = await customScans(client, text, values);
  expect(scans.filter((scan) => scan.startsWith("Seq Scan"))).toEqual([]);
  expect(scans.some((scan) => scan.endsWith(index))).toBe(true);
}

test("by header: jobs_headers_idx, which holds only jobs with headers", async () => {
  const { rows } = await client.query<{ def: string }>("select pg_get_indexdef('baton.jobs_headers_idx'::regclass) as def");
  expect(rows[0]!.def).toMatch(/WHERE \(headers <> '\{\}'::jsonb\)$/);
  const headers = JSON.stringify({ tenant: "t7" });
  await expectIndexBacked(page({ headers }), "jobs_headers_idx");
  await expectIndexBacked(page({ headers, queue: "q7", states: ["succeeded", "dead"] }), "jobs_headers_idx");
  await expectIndexBacked(batch({ headers, states: ["succeeded"] }), "jobs_headers_idx");
});

test("by create_time range: jobs_create_time_idx", async () => {
  const after = new Date(newest.getTime() - 3_600_000 * 5);
  const before = new Date(after.getTime() + 600_000);
  await expectIndexBacked(page({ createdAfter: after, createdBefore: before }), "jobs_create_time_idx");
  await expectIndexBacked(batch({ createdAfter: after, createdBefore: before, queue: "q3" }), "jobs_create_time_idx");
});

test("by ids: the primary key; newest first without a filter: the primary key, not a sort of the table", async () => {
  await expectIndexBacked(page({ ids: ["17", "4711"] }), "jobs_pkey");
  await expectIndexBacked(page({}), "jobs_pkey");
  await expectIndexBacked(batch({ ids: ["17", "4711"] }), "jobs_pkey");
});
