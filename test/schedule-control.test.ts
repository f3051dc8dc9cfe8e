/**
 * Pausing, resuming, catch-up windows and overlap policies of cron schedules, against a real
 * PostgreSQL with time injected: the scheduler runs one pass at a chosen `now`, so that a fire
 * that must not happen is proven absent at that instant, never by waiting.
 */
import { beforeAll, describe, expect, test } from "vitest";
import { schedulerTask } from "../src/maintenance/scheduler.js";
import { MAX_FIRES_PER_CLAIM } from "../src/maintenance/schedule-fires.js";
import { jobCancel } from "../src/store/jobs.js";
import { type NewSchedule, scheduleCreate, scheduleSetPaused } from "../src/store/schedules.js";
import { createLogger } from "../src/util/log.js";
import { logJobInserts, sql } from "./helpers/database.js";
import { useStoreDatabase } from "./helpers/store.js";

const store = useStoreDatabase();

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const MINUTE = 60;

/** One scheduler pass (every batch until nothing is due) at `now`, as a replica runs it. */
const fireAt = (now: Date) =>
  schedulerTask({ db: store.db, log: createLogger({ test: true }, "error"), intervalMs: 1000, defaultMaxAttempts: 3, now: () => now }).run();

/** A schedule on its own queue (named after it), every minute at second 0, first due at T0 + 1 min. */
async function createSchedule(name: string, extra: Partial<NewSchedule> = {}): Promise<void> {
  await scheduleCreate(store.db, {
    name,
    queue: name,
    cron: "0 * * * * *",
    timeZone: "UTC",
    payload: new Uint8Array(),
    headers: {},
    priority: 0,
    maxAttempts: null,
    catchupWindowSeconds: null,
    overlapPolicy: "allow",
    nextRunTime: at(MINUTE),
    ...extra,
  });
}

/** The fire times of the jobs a schedule enqueued, in the order they were created. */
async function fireTimes(name: string): Promise<string[]> {
  const rows = await sql<{ dedup_key: string }>(store.url, "select dedup_key from baton.jobs where queue = $1 order by id", [name]);
  return rows.map((row) => row.dedup_key.replace(`schedule:${name}:`, ""));
}

const iso = (...seconds: number[]) => seconds.map((s) => at(s).toISOString());

async function scheduleRow(name: string) {
  const [row] = await sql<{ last_run_time: Date | null; next_run_time: Date; last_job_id: string | null }>(
    store.url,
    "select last_run_time, next_run_time, last_job_id::text from baton.schedules where name = $1",
    [name],
  );
  return row!;
}

beforeAll(async () => {
  // Counts every job insert the scheduler attempts, including any a dedup key would absorb, so
  // that a fire time fired twice cannot hide behind deduplication.
  await logJobInserts(store.url, "fire_log", "schedule:%");
});

describe("pause and catch-up", () => {
  test("a paused schedule does not fire; resumed, it makes up each missed fire time within its window once, oldest first", async () => {
    await createSchedule("c-window", { catchupWindowSeconds: 5 * MINUTE });
    await fireAt(at(MINUTE));
    expect(await fireTimes("c-window")).toEqual(iso(MINUTE));

    await scheduleSetPaused(store.db, "c-window", true);
    for (const minutes of [2, 3, 10, 15]) await fireAt(at(minutes * MINUTE));
    expect(await fireTimes("c-window")).toEqual(iso(MINUTE));

    // Resumed at minute 15 (plus 30 s): minutes 2 to 15 were missed; those at most 5 minutes old fire.
    await scheduleSetPaused(store.db, "c-window", false);
    await fireAt(at(15 * MINUTE + 30));
    expect(await fireTimes("c-window")).toEqual(iso(MINUTE, 11 * MINUTE, 12 * MINUTE, 13 * MINUTE, 14 * MINUTE, 15 * MINUTE));
    expect(await scheduleRow("c-window")).toMatchObject({ last_run_time: at(15 * MINUTE), next_run_time: at(16 * MINUTE) });

    // Made up once: another pass at the same instant, then the next fire time, add one job.
    await fireAt(at(15 * MINUTE + 30));
    await fireAt(at(16 * MINUTE));
    expect((await fireTimes("c-window")).slice(1)).toEqual(iso(11 * MINUTE, 12 * MINUTE, 13 * MINUTE, 14 * MINUTE, 15 * MINUTE, 16 * MINUTE));
  });

  test("without a window, a resumed schedule fires once, for the latest fire time it missed", async () => {
    await createSchedule("c-latest");
    await scheduleSetPaused(store.db, "c-latest", true);
    await fireAt(at(10 * MINUTE));
    expect(await fireTimes("c-latest")).toEqual([]);
    await scheduleSetPaused(store.db, "c-latest", false);
    await fireAt(at(10 * MINUTE + 30));
    expect(await fireTimes("c-latest")).toEqual(iso(10 * MINUTE));
    expect(await scheduleRow("c-latest")).toMatchObject({ last_run_time: at(10 * MINUTE), next_run_time: at(11 * MINUTE) });
  });

  test("missed fire times all older than the window pass without a job", async () => {
    await createSchedule("c-stale", { cron: "0 0 * * * *", nextRunTime: at(3600), catchupWindowSeconds: 10 * MINUTE });
    await fireAt(at(3 * 3600 + 30 * MINUTE));
    expect(await fireTimes("c-stale")).toEqual([]);
    expect(await scheduleRow("c-stale")).toMatchObject({ last_run_time: null, next_run_time: at(4 * 3600) });
  });

  test("a backlog larger than one claim is made up over several transactions, each fire time once, with two replicas at it", async () => {
    const backlog = 2 * MAX_FIRES_PER_CLAIM + 50;
    await createSchedule("c-backlog", { cron: "* * * * * *", nextRunTime: at(1), catchupWindowSeconds: 3600 });
    await Promise.all([fireAt(at(backlog)), fireAt(at(backlog))]);
    const expected = Array.from({ length: backlog }, (_, i) => at(i + 1).toISOString());
    expect(await fireTimes("c-backlog")).toEqual(expected);
    const attempts = await sql<{ dedup_key: string; n: number }>(
      store.url,
      "select dedup_key, count(*)::int as n from public.fire_log where dedup_key like 'schedule:c-backlog:%' group by dedup_key",
    );
    expect(attempts).toHaveLength(backlog);
    expect(attempts.filter((a) => a.n !== 1)).toEqual([]);
    expect(await scheduleRow("c-backlog")).toMatchObject({ last_run_time: at(backlog), next_run_time: at(backlog + 1) });
  });
});

describe("overlap policy", () => {
  test("SKIP lets fire times pass while the previous fire's job is unfinished, and fires again once it finished", async () => {
    await createSchedule("o-skip", { overlapPolicy: "skip" });
    await fireAt(at(MINUTE));
    const first = (await scheduleRow("o-skip")).last_job_id!;
    expect(await fireTimes("o-skip")).toEqual(iso(MINUTE));

    await fireAt(at(2 * MINUTE));
    expect(await fireTimes("o-skip")).toEqual(iso(MINUTE));
    // The skipped fire time moved the schedule on without being recorded as a fire.
    expect(await scheduleRow("o-skip")).toEqual({ last_run_time: at(MINUTE), next_run_time: at(3 * MINUTE), last_job_id: first });

    await jobCancel(store.db, [first], at(2 * MINUTE + 1));
    await fireAt(at(3 * MINUTE));
    expect(await fireTimes("o-skip")).toEqual(iso(MINUTE, 3 * MINUTE));
    expect((await scheduleRow("o-skip")).last_job_id).not.toBe(first);
  });

  test("SKIP with a catch-up window makes up only the oldest missed fire time: its job is unfinished when the others come", async () => {
    await createSchedule("o-skip-window", { overlapPolicy: "skip", catchupWindowSeconds: 10 * MINUTE });
    await fireAt(at(5 * MINUTE));
    expect(await fireTimes("o-skip-window")).toEqual(iso(MINUTE));
    expect((await scheduleRow("o-skip-window")).next_run_time).toEqual(at(6 * MINUTE));
  });

  test("ALLOW fires while the previous fire's job is unfinished", async () => {
    await createSchedule("o-allow");
    await fireAt(at(MINUTE));
    await fireAt(at(2 * MINUTE));
    expect(await fireTimes("o-allow")).toEqual(iso(MINUTE, 2 * MINUTE));
  });
});
