import { Code, ConnectError, type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { ScheduleService } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { eventually } from "./helpers/wait.js";

/** Two replicas on one database, each looking for due schedules every ~100 ms. */
let first: TestBroker;
let second: TestBroker;
let schedules: Client<typeof ScheduleService>;

const scheduleClient = (broker: TestBroker) => createClient(ScheduleService, createGrpcTransport({ baseUrl: broker.baseUrl }));

beforeAll(async () => {
  first = await startTestBroker({ schedulerIntervalMs: 100 });
  second = await startTestBroker({ schedulerIntervalMs: 100 }, first.databaseUrl);
  schedules = scheduleClient(first);
});

afterAll(async () => {
  await second?.stop();
  await first?.stop();
});

test("create, list and delete round trip; the first fire time is read in the schedule's time zone", async () => {
  const { schedule } = await schedules.createSchedule({
    schedule: {
      name: "paris-morning",
      queue: "reports",
      cron: "0 9 * * *",
      timeZone: "Europe/Paris",
      payload: new TextEncoder().encode("hello"),
      headers: { tenant: "acme" },
      priority: -2,
      maxAttempts: 3,
    },
  });
  expect(schedule).toMatchObject({ name: "paris-morning", queue: "reports", cron: "0 9 * * *", timeZone: "Europe/Paris" });
  expect(schedule!.lastRunTime).toBeUndefined();
  const [row] = await sql<{ local_hour: number; local_minute: number; in_future: boolean }>(
    first.databaseUrl,
    `select extract(hour from next_run_time at time zone 'Europe/Paris')::int as local_hour,
            extract(minute from next_run_time at time zone 'Europe/Paris')::int as local_minute,
            next_run_time > now() as in_future
     from baton.schedules where name = 'paris-morning'`,
  );
  expect(row).toEqual({ local_hour: 9, local_minute: 0, in_future: true });

  // A second replica sees the same schedules; an empty time zone means UTC.
  await scheduleClient(second).createSchedule({ schedule: { name: "utc-hourly", queue: "reports", cron: "@hourly" } });
  const listed = await schedules.listSchedules({});
  const byName = new Map(listed.schedules.map((s) => [s.name, s]));
  expect(byName.get("utc-hourly")).toMatchObject({ timeZone: "UTC", cron: "@hourly", maxAttempts: 0 });
  expect(byName.get("paris-morning")).toMatchObject({ priority: -2, maxAttempts: 3, headers: { tenant: "acme" } });
  expect(new TextDecoder().decode(byName.get("paris-morning")!.payload)).toBe("hello");
  expect(byName.get("paris-morning")!.nextRunTime).toEqual(schedule!.nextRunTime);

  await schedules.deleteSchedule({ name: "paris-morning" });
  await schedules.deleteSchedule({ name: "utc-hourly" });
  const names = (await schedules.listSchedules({})).schedules.map((s) => s.name);
  expect(names).not.toContain("paris-morning");
  expect(names).not.toContain("utc-hourly");
  await expectCode(schedules.deleteSchedule({ name: "paris-morning" }), Code.NotFound, 'schedule "paris-morning" not found');
});

test("a bad cron expression or time zone is INVALID_ARGUMENT with a precise message, and nothing is stored", async () => {
  const attempt = (cron: string, timeZone = "UTC") => schedules.createSchedule({ schedule: { name: "bad", queue: "q", cron, timeZone } });
  await expectCode(attempt("61 * * * *"), Code.InvalidArgument, 'schedule.cron "61 * * * *" is invalid: Constraint error, got value 61 expected range 0-59');
  await expectCode(attempt("* * * *"), Code.InvalidArgument, 'schedule.cron "* * * *" has 4 fields');
  await expectCode(attempt("every minute please"), Code.InvalidArgument, "has 3 fields");
  await expectCode(attempt("@reboot"), Code.InvalidArgument, 'schedule.cron "@reboot" is not a known alias');
  await expectCode(attempt(""), Code.InvalidArgument, "schedule.cron must not be empty");
  await expectCode(attempt("0 0 31 2 *"), Code.InvalidArgument, 'schedule.cron "0 0 31 2 *" is invalid');
  await expectCode(attempt("0 9 * * *", "Mars/Olympus_Mons"), Code.InvalidArgument, 'schedule.time_zone "Mars/Olympus_Mons" is not an IANA time zone');
  await expectCode(
    schedules.createSchedule({ schedule: { name: "-bad", queue: "q", cron: "* * * * *" } }),
    Code.InvalidArgument,
    'schedule.name "-bad" is invalid',
  );
  await expectCode(schedules.createSchedule({}), Code.InvalidArgument, "schedule is required");
  const stored = await sql(first.databaseUrl, "select name from baton.schedules where name in ('bad', '-bad')");
  expect(stored).toEqual([]);
});

test("a duplicate name is ALREADY_EXISTS and leaves the first schedule as it was", async () => {
  await schedules.createSchedule({ schedule: { name: "dup", queue: "one", cron: "0 0 1 1 *" } });
  await expectCode(
    schedules.createSchedule({ schedule: { name: "dup", queue: "two", cron: "0 0 1 1 *" } }),
    Code.AlreadyExists,
    'schedule "dup" already exists',
  );
  const rows = await sql(first.databaseUrl, "select queue from baton.schedules where name = 'dup'");
  expect(rows).toEqual([{ queue: "one" }]);
  await schedules.deleteSchedule({ name: "dup" });
});

test("an every-second schedule fires exactly once per fire time with two replicas competing", async () => {
  // Counts every job insert the scheduler commits, including any the dedup key would absorb,
  // so a fire time fired by both replicas cannot hide behind deduplication.
  await sql(
    first.databaseUrl,
    `create table public.fire_log (dedup_key text not null);
     create function public.log_fire() returns trigger language plpgsql as
       $$ begin insert into public.fire_log values (new.dedup_key); return new; end $$;
     create trigger log_fire before insert on baton.jobs
       for each row when (new.dedup_key like 'schedule:%') execute function public.log_fire();`,
  );
  await schedules.createSchedule({
    schedule: { name: "every-second", queue: "ticks", cron: "* * * * * *", payload: new TextEncoder().encode("tick"), priority: 5, maxAttempts: 2 },
  });
  await eventually(
    async () => {
      const [row] = await sql<{ fires: number }>(first.databaseUrl, "select count(distinct dedup_key)::int as fires from public.fire_log");
      return row!.fires >= 3;
    },
    { what: "three fire times of the every-second schedule" },
  );
  // Deleting waits for a firing transaction that holds the row, so no fire lands afterwards.
  await schedules.deleteSchedule({ name: "every-second" });

  const attempts = await sql<{ dedup_key: string; n: number }>(
    first.databaseUrl,
    "select dedup_key, count(*)::int as n from public.fire_log group by dedup_key order by dedup_key",
  );
  const jobs = await sql<{ dedup_key: string; payload: Buffer; priority: number; max_attempts: number }>(
    first.databaseUrl,
    "select dedup_key, payload, priority, max_attempts from baton.jobs where queue = 'ticks' order by dedup_key",
  );
  expect(attempts.length).toBeGreaterThanOrEqual(3);
  expect(attempts.filter((a) => a.n !== 1)).toEqual([]);
  expect(jobs.map((j) => j.dedup_key)).toEqual(attempts.map((a) => a.dedup_key));
  for (const job of jobs) {
    expect(job.dedup_key).toMatch(/^schedule:every-second:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    expect(job).toMatchObject({ payload: Buffer.from("tick"), priority: 5, max_attempts: 2 });
  }
});

test("after downtime across many fire times, a schedule fires once for the latest and moves past now", async () => {
  // Nobody serves this database while a nightly schedule misses thirty nights.
  const url = await createTestDatabase();
  await sql(
    url,
    `insert into baton.schedules (name, queue, cron, time_zone, next_run_time)
     values ('nightly', 'catch-up', '0 0 * * *', 'America/New_York', now() - interval '30 days')`,
  );
  const broker = await startTestBroker({ schedulerIntervalMs: 100 }, url);
  try {
    await eventually(async () => (await sql(url, "select 1 from baton.schedules where last_run_time is not null")).length > 0, {
      what: "the schedule's first fire",
    });
    // Postgres, not the broker's cron library, says which local midnights these are.
    const [expected] = await sql<{ latest: Date; next: Date }>(
      url,
      `select date_trunc('day', now() at time zone 'America/New_York') at time zone 'America/New_York' as latest,
              (date_trunc('day', now() at time zone 'America/New_York') + interval '1 day') at time zone 'America/New_York' as next`,
    );
    const [schedule] = await sql<{ last_run_time: Date; next_run_time: Date; in_future: boolean }>(
      url,
      "select last_run_time, next_run_time, next_run_time > now() as in_future from baton.schedules where name = 'nightly'",
    );
    expect(schedule).toEqual({ last_run_time: expected!.latest, next_run_time: expected!.next, in_future: true });
    const jobs = await sql(url, "select dedup_key from baton.jobs where queue = 'catch-up'");
    expect(jobs).toEqual([{ dedup_key: `schedule:nightly:${expected!.latest.toISOString()}` }]);
  } finally {
    await broker.stop();
  }
});

async function expectCode(call: Promise<unknown>, code: Code, message: string): Promise<void> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${Code[code]}: ${message}`).toBeInstanceOf(ConnectError);
  expect(Code[(error as ConnectError).code]).toBe(Code[code]);
  expect((error as ConnectError).rawMessage).toContain(message);
}
