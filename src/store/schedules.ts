import type { Queryable } from "./database.js";
import type { Now } from "./jobs.js";
import { loadQueries } from "./sql-file.js";

const sql = loadQueries<"ScheduleNow" | "ScheduleCreate" | "SchedulePage" | "ScheduleDelete" | "ScheduleClaimDue" | "ScheduleAdvance">(
  new URL("./sql/schedules.sql", import.meta.url),
);

/** A row of baton.schedules as the store returns it. */
export interface ScheduleRecord {
  name: string;
  queue: string;
  cron: string;
  time_zone: string;
  payload: Buffer;
  headers: Record<string, string>;
  priority: number;
  /** Null takes the broker's default when a job is enqueued. */
  max_attempts: number | null;
  next_run_time: Date;
  last_run_time: Date | null;
  create_time: Date;
}

/** A validated schedule; the caller computes its first fire time from {@link scheduleNow}. */
export interface NewSchedule {
  name: string;
  queue: string;
  cron: string;
  timeZone: string;
  payload: Uint8Array;
  headers: Record<string, string>;
  priority: number;
  maxAttempts: number | null;
  nextRunTime: Date;
}

/** The database's clock (or `now`), which every fire time is computed from. */
export async function scheduleNow(db: Queryable, now: Now = null): Promise<Date> {
  const { rows } = await db.query<{ now: Date }>({ name: "ScheduleNow", text: sql.ScheduleNow, values: [now] });
  return rows[0]!.now;
}

/** Inserts a schedule; undefined when a schedule of that name exists. */
export async function scheduleCreate(db: Queryable, schedule: NewSchedule): Promise<ScheduleRecord | undefined> {
  const { rows } = await db.query<ScheduleRecord>({
    name: "ScheduleCreate",
    text: sql.ScheduleCreate,
    values: [
      schedule.name,
      schedule.queue,
      schedule.cron,
      schedule.timeZone,
      Buffer.from(schedule.payload),
      JSON.stringify(schedule.headers),
      schedule.priority,
      schedule.maxAttempts,
      schedule.nextRunTime,
    ],
  });
  return rows[0];
}

export interface SchedulePageFilter {
  limit: number;
  /** Most bytes of payloads and headers in the page; the first schedule is always included. */
  maxBytes: number;
  /** Only schedules named after this: the last name of the previous page. */
  afterName?: string;
}

export interface SchedulePage {
  schedules: ScheduleRecord[];
  /** Whether schedules follow the last of this page (it was cut by the limit or by bytes). */
  more: boolean;
}

/** A page of schedules in name order. */
export async function schedulePage(db: Queryable, filter: SchedulePageFilter): Promise<SchedulePage> {
  const { rows } = await db.query<ScheduleRecord & { more: boolean }>({
    name: "SchedulePage",
    text: sql.SchedulePage,
    values: [filter.afterName ?? null, filter.limit, filter.maxBytes],
  });
  return { schedules: rows, more: rows.at(-1)?.more ?? false };
}

/** Returns false when no schedule has that name. */
export async function scheduleDelete(db: Queryable, name: string): Promise<boolean> {
  const { rows } = await db.query<{ name: string }>({ name: "ScheduleDelete", text: sql.ScheduleDelete, values: [name] });
  return rows.length > 0;
}

export interface DueSchedules {
  schedules: ScheduleRecord[];
  /** The instant they were found due at: what fire times are computed from. */
  now: Date | undefined;
}

/**
 * Locks up to `limit` due schedules until the end of the caller's transaction, skipping those
 * another replica holds. Must run inside a transaction that also advances them.
 */
export async function scheduleClaimDue(tx: Queryable, limit: number, now: Now = null): Promise<DueSchedules> {
  const { rows } = await tx.query<ScheduleRecord & { db_now: Date }>({
    name: "ScheduleClaimDue",
    text: sql.ScheduleClaimDue,
    values: [limit, now],
  });
  return { schedules: rows, now: rows[0]?.db_now };
}

export interface ScheduleAdvance {
  name: string;
  /** The fire time just fired; null moves the schedule on without recording a fire. */
  lastRunTime: Date | null;
  nextRunTime: Date;
}

export async function scheduleAdvance(tx: Queryable, advances: ScheduleAdvance[]): Promise<void> {
  await tx.query({
    name: "ScheduleAdvance",
    text: sql.ScheduleAdvance,
    values: [advances.map((a) => a.name), advances.map((a) => a.lastRunTime), advances.map((a) => a.nextRunTime)],
  });
}
