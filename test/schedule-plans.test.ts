/**
 * The scheduler's statements read indexes, not whole tables: due schedules come from the partial
 * index of unpaused ones, and the previous fire's job (overlap_policy SKIP) is read by its
 * primary key. Checked on a realistic database (50,000 jobs, 2,000 schedules, half of them
 * paused long ago) after ANALYZE, as production plans them (generic plans) and with the
 * parameters' values known.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createTestDatabase } from "./helpers/database.js";
import { type PlanNode, customScans, genericScans, schedulesQuery } from "./helpers/plans.js";

let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: await createTestDatabase() });
  await client.connect();
  await client.query(`
    insert into baton.jobs (queue, state, max_attempts, attempt, chain_id, finish_time)
    select 'q' || (g % 10), case when g % 10 = 0 then 'available' else 'succeeded' end::baton.job_state,
           1, case when g % 10 = 0 then 0 else 1 end, g, case when g % 10 <> 0 then now() end
    from generate_series(1, 50000) g`);
  // Paused ones are long overdue; the running ones fire in the future, but for a few.
  await client.query(`
    insert into baton.schedules (name, queue, cron, next_run_time, paused, overlap_policy, last_job_id)
    select 's' || g, 'q', '* * * * *',
           case when g % 2 = 0 then now() - interval '30 days' when g % 200 = 1 then now() - interval '1 minute' else now() + make_interval(mins => g) end,
           g % 2 = 0, 'skip', g * 20
    from generate_series(1, 2000) g`);
  await client.query("analyze baton.jobs; analyze baton.schedules");
}, 60_000);

afterAll(() => client?.end());

/** Whether the plan reads `index` anywhere. */
async function readsIndex(text: string, values: unknown[], index: string): Promise<boolean> {
  const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`explain (format json) ${text}`, values);
  const names = (node: PlanNode): string[] => [node["Index Name"] ?? "", ...(node.Plans ?? []).flatMap(names)];
  return names(rows[0]!["QUERY PLAN"][0].Plan).includes(index);
}

test("claiming due schedules reads the index of unpaused ones, and each previous job by its key", async () => {
  const claim = schedulesQuery("ScheduleClaimDue", { limit: 100 });
  expect(await readsIndex(claim.text, claim.values, "schedules_due_idx")).toBe(true);
  for (const scans of [await genericScans(client, claim.text, claim.values), await customScans(client, claim.text, claim.values)]) {
    expect(scans.length).toBeGreaterThan(0);
    expect(scans.filter((scan) => !scan.endsWith("jobs_pkey"))).toEqual([]);
  }
  const { rows } = await client.query<{ name: string }>(claim.text, claim.values);
  expect(rows).toHaveLength(10);
});

test("locking one schedule (UpdateSchedule, TriggerSchedule) reads its previous job by its key", async () => {
  const lock = schedulesQuery("ScheduleLock", { name: "s42" });
  for (const scans of [await genericScans(client, lock.text, lock.values), await customScans(client, lock.text, lock.values)]) {
    expect(scans.filter((scan) => !scan.endsWith("jobs_pkey"))).toEqual([]);
  }
});
