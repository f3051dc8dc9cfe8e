import { Code, ConnectError, type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { create } from "@bufbuild/protobuf";
import { OverlapPolicy, ScheduleService } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { createTestDatabase, logJobInserts, sql } from "./helpers/database.js";
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
  await logJobInserts(first.databaseUrl, "fire_log", "schedule:%");
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

test("update changes a definition, recomputing next_run_time when the expression changes; pause and resume are idempotent", async () => {
  const { schedule: created } = await schedules.createSchedule({
    schedule: { name: "control", queue: "control", cron: "0 0 1 1 *", catchupWindow: { seconds: 3600n }, overlapPolicy: OverlapPolicy.SKIP },
  });
  expect(created).toMatchObject({ paused: false, catchupWindow: { seconds: 3600n }, overlapPolicy: OverlapPolicy.SKIP });

  // Only the named field changes; the pending fire time stays while the expression does.
  const { schedule: reprioritized } = await schedules.updateSchedule({
    schedule: { name: "control", priority: 7, queue: "ignored" },
    updateMask: create(FieldMaskSchema, { paths: ["priority"] }),
  });
  expect(reprioritized).toMatchObject({ queue: "control", priority: 7, cron: "0 0 1 1 *", catchupWindow: { seconds: 3600n } });
  expect(reprioritized!.nextRunTime).toEqual(created!.nextRunTime);

  // A new expression starts from now, in the schedule's zone; the second replica sees it.
  const { schedule: recron } = await scheduleClient(second).updateSchedule({
    schedule: { name: "control", cron: "0 9 * * *", timeZone: "Europe/Paris" },
    updateMask: create(FieldMaskSchema, { paths: ["cron", "time_zone"] }),
  });
  expect(recron).toMatchObject({ cron: "0 9 * * *", timeZone: "Europe/Paris", priority: 7 });
  const [row] = await sql<{ local_time: string; in_future: boolean; within_a_day: boolean }>(
    first.databaseUrl,
    `select to_char(next_run_time at time zone 'Europe/Paris', 'HH24:MI') as local_time, next_run_time > now() as in_future,
            next_run_time <= now() + interval '1 day' as within_a_day
     from baton.schedules where name = 'control'`,
  );
  expect(row).toEqual({ local_time: "09:00", in_future: true, within_a_day: true });

  // Without a mask the request is the whole new definition: what it leaves out is reset.
  const { schedule: replaced } = await schedules.updateSchedule({ schedule: { name: "control", queue: "elsewhere", cron: "0 9 * * *", timeZone: "Europe/Paris" } });
  expect(replaced).toMatchObject({ queue: "elsewhere", priority: 0, overlapPolicy: OverlapPolicy.ALLOW });
  expect(replaced!.catchupWindow).toBeUndefined();
  expect(replaced!.nextRunTime).toEqual(recron!.nextRunTime);

  // Twice: pausing a paused schedule is no error.
  expect((await schedules.pauseSchedule({ name: "control" })).schedule).toMatchObject({ paused: true });
  expect((await schedules.pauseSchedule({ name: "control" })).schedule).toMatchObject({ paused: true });
  expect((await scheduleClient(second).listSchedules({})).schedules.find((s) => s.name === "control")).toMatchObject({ paused: true });
  // Updating a paused schedule leaves it paused.
  expect((await schedules.updateSchedule({ schedule: { name: "control", priority: 1 }, updateMask: create(FieldMaskSchema, { paths: ["priority"] }) })).schedule).toMatchObject({
    paused: true,
  });
  expect((await schedules.resumeSchedule({ name: "control" })).schedule).toMatchObject({ paused: false });
  expect((await schedules.resumeSchedule({ name: "control" })).schedule).toMatchObject({ paused: false });
  await schedules.deleteSchedule({ name: "control" });
});

test("TriggerSchedule fires exactly once per call, paused or not, with calls racing on two replicas", async () => {
  await logJobInserts(first.databaseUrl, "trigger_log", "schedule:manual:%");
  const { schedule: created } = await schedules.createSchedule({ schedule: { name: "manual", queue: "manual", cron: "0 0 1 1 *", payload: new TextEncoder().encode("now") } });
  await schedules.pauseSchedule({ name: "manual" });
  const calls = [first, second, first, second, first, second].map((broker) => scheduleClient(broker).triggerSchedule({ name: "manual" }));
  const answers = await Promise.all(calls);

  const ids = answers.map((a) => a.job!.id);
  expect(new Set(ids).size).toBe(calls.length);
  for (const { job } of answers) {
    expect(job!.dedupKey).toMatch(/^schedule:manual:trigger:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(new TextDecoder().decode(job!.payload)).toBe("now");
  }
  const attempts = await sql<{ n: number; keys: number }>(first.databaseUrl, "select count(*)::int as n, count(distinct dedup_key)::int as keys from public.trigger_log");
  expect(attempts).toEqual([{ n: calls.length, keys: calls.length }]);
  const jobs = await sql<{ id: string }>(first.databaseUrl, "select id::text from baton.jobs where queue = 'manual' order by id");
  expect(jobs.map((j) => j.id).sort()).toEqual([...ids].sort());

  // The cron's own fire time is untouched; last_run_time is the latest trigger's.
  const [listed] = (await schedules.listSchedules({})).schedules.filter((s) => s.name === "manual");
  expect(listed).toMatchObject({ paused: true, nextRunTime: created!.nextRunTime });
  const latest = answers.map((a) => a.schedule!.lastRunTime!).reduce((a, b) => (a.seconds > b.seconds || (a.seconds === b.seconds && a.nanos > b.nanos) ? a : b));
  expect(listed!.lastRunTime).toEqual(latest);
  await schedules.deleteSchedule({ name: "manual" });
});

test("TriggerSchedule with overlap SKIP is FAILED_PRECONDITION while the previous fire's job is unfinished", async () => {
  await schedules.createSchedule({ schedule: { name: "single", queue: "single", cron: "0 0 1 1 *", overlapPolicy: OverlapPolicy.SKIP } });
  const { job } = await schedules.triggerSchedule({ name: "single" });
  await expectCode(schedules.triggerSchedule({ name: "single" }), Code.FailedPrecondition, `the job of its previous fire (${job!.id}) is unfinished`);
  await second.jobs.cancelJob({ id: job!.id });
  const { job: next } = await schedules.triggerSchedule({ name: "single" });
  expect(next!.id).not.toBe(job!.id);
  await schedules.deleteSchedule({ name: "single" });
});

test("bad input to the schedule control RPCs and fields is refused with a precise message, and changes nothing", async () => {
  const base = { name: "bad-control", queue: "q", cron: "0 0 1 1 *" };
  const createWith = (extra: object) => schedules.createSchedule({ schedule: { ...base, ...extra } });
  await expectCode(createWith({ catchupWindow: { seconds: 5n } }), Code.InvalidArgument, "schedule.catchup_window is 5s; it must be between 10 seconds and 366 days, or unset");
  await expectCode(createWith({ catchupWindow: { seconds: -60n } }), Code.InvalidArgument, "schedule.catchup_window is -60s");
  await expectCode(createWith({ catchupWindow: { seconds: 400n * 86400n } }), Code.InvalidArgument, "schedule.catchup_window is 34560000s");
  await expectCode(createWith({ catchupWindow: { seconds: 60n, nanos: -1 } }), Code.InvalidArgument, "schedule.catchup_window is not a valid Duration");
  await expectCode(createWith({ overlapPolicy: 7 }), Code.InvalidArgument, "schedule.overlap_policy 7 is not an OverlapPolicy: use OVERLAP_POLICY_ALLOW or OVERLAP_POLICY_SKIP");
  expect(await sql(first.databaseUrl, "select name from baton.schedules where name = 'bad-control'")).toEqual([]);

  const { schedule: stored } = await createWith({ catchupWindow: { seconds: 0n } });
  expect(stored!.catchupWindow).toBeUndefined();
  const mask = (...paths: string[]) => create(FieldMaskSchema, { paths });
  await expectCode(schedules.updateSchedule({}), Code.InvalidArgument, "schedule is required");
  await expectCode(schedules.updateSchedule({ schedule: { ...base, name: "-x" } }), Code.InvalidArgument, 'schedule.name "-x" is invalid');
  await expectCode(schedules.updateSchedule({ schedule: { ...base, name: "no-such" } }), Code.NotFound, 'schedule "no-such" not found');
  await expectCode(
    schedules.updateSchedule({ schedule: base, updateMask: mask("next_run_time") }),
    Code.InvalidArgument,
    'update_mask path "next_run_time" is not a Schedule field UpdateSchedule sets: use queue, cron, time_zone',
  );
  await expectCode(schedules.updateSchedule({ schedule: { ...base, cron: "61 * * * *" } }), Code.InvalidArgument, 'schedule.cron "61 * * * *" is invalid');
  await expectCode(schedules.updateSchedule({ schedule: { name: base.name, cron: "* * *" }, updateMask: mask("cron") }), Code.InvalidArgument, 'schedule.cron "* * *" has 3 fields');
  await expectCode(
    schedules.updateSchedule({ schedule: { name: base.name, timeZone: "Nowhere/Land" }, updateMask: mask("time_zone") }),
    Code.InvalidArgument,
    'schedule.time_zone "Nowhere/Land" is not an IANA time zone',
  );
  await expectCode(schedules.updateSchedule({ schedule: { name: base.name }, updateMask: mask("queue") }), Code.InvalidArgument, "schedule.queue");
  await expectCode(
    schedules.updateSchedule({ schedule: { name: base.name, catchupWindow: { seconds: 1n } }, updateMask: mask("catchup_window") }),
    Code.InvalidArgument,
    "schedule.catchup_window is 1s",
  );
  await expectCode(schedules.updateSchedule({ schedule: { name: base.name, overlapPolicy: 3 as OverlapPolicy }, updateMask: mask("overlap_policy") }), Code.InvalidArgument, "schedule.overlap_policy 3");
  const [after] = (await schedules.listSchedules({})).schedules.filter((s) => s.name === base.name);
  expect(after).toMatchObject({ queue: "q", cron: "0 0 1 1 *", timeZone: "UTC", overlapPolicy: OverlapPolicy.ALLOW });
  expect(after!.catchupWindow).toBeUndefined();
  expect(after!.nextRunTime).toEqual(stored!.nextRunTime);

  for (const call of [schedules.pauseSchedule, schedules.resumeSchedule, schedules.triggerSchedule]) {
    await expectCode(call({ name: "" }), Code.InvalidArgument, "name");
    await expectCode(call({ name: "bad name" }), Code.InvalidArgument, 'name "bad name" is invalid');
    await expectCode(call({ name: "no-such" }), Code.NotFound, 'schedule "no-such" not found');
  }
  await schedules.deleteSchedule({ name: base.name });
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
