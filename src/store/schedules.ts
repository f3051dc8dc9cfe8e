import type { Queryable } from "./database.js";
import { type Now, loadStatements, param, row, run, statement } from "./statements.js";

const now = param<Now>();
const name = param<string>();
const limit = param<number>();

const sql = loadStatements(new URL("./sql/schedules.sql", import.meta.url), {
  ScheduleNow: statement({ now }, row<{ now: Date }>()),
  ScheduleCreate: statement(
    {
      name,
      queue: param<string>(),
      cron: param<string>(),
      timeZone: param<string>(),
      payload: param<Buffer>(),
      headers: param<string>(),
      priority: param<number>(),
      maxAttempts: param<number | null>(),
      nextRunTime: param<Date>(),
    },
    row<ScheduleRow>(),
  ),
  SchedulePage: statement({ afterName: param<string | null>(), limit, maxBytes: param<number>() }, row<ScheduleRow & { more: boolean }>()),
  ScheduleDelete: statement({ name }, row<{ name: string }>()),
  ScheduleClaimDue: statement({ limit, now }, row<ScheduleRow & { db_now: Date }>()),
  ScheduleAdvance: statement({ names: param<string[]>(), lastRunTimes: param<(Date | null)[]>(), nextRunTimes: param<Date[]>() }),
});

/** A schedule as the store returns it. */
export interface ScheduleRecord {
  name: string;
  queue: string;
  cron: string;
  timeZone: string;
  payload: Buffer;
  headers: Record<string, string>;
  priority: number;
  /** Null takes the broker's default when a job is enqueued. */
  maxAttempts: number | null;
  nextRunTime: Date;
  lastRunTime: Date | null;
  createTime: Date;
}

/** A schedule as the statements return it (the ScheduleColumns fragment of schedules.sql). */
interface ScheduleRow {
  name: string;
  queue: string;
  cron: string;
  time_zone: string;
  payload: Buffer;
  headers: Record<string, string>;
  priority: number;
  max_attempts: number | null;
  next_run_time: Date;
  last_run_time: Date | null;
  create_time: Date;
}

const toRecord = (row: ScheduleRow): ScheduleRecord => ({
  name: row.name,
  queue: row.queue,
  cron: row.cron,
  timeZone: row.time_zone,
  payload: row.payload,
  headers: row.headers,
  priority: row.priority,
  maxAttempts: row.max_attempts,
  nextRunTime: row.next_run_time,
  lastRunTime: row.last_run_time,
  createTime: row.create_time,
});

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
  const { rows } = await run(db, sql.ScheduleNow, { now });
  return rows[0]!.now;
}

/** Inserts a schedule; undefined when a schedule of that name exists. */
export async function scheduleCreate(db: Queryable, schedule: NewSchedule): Promise<ScheduleRecord | undefined> {
  const { rows } = await run(db, sql.ScheduleCreate, {
    name: schedule.name,
    queue: schedule.queue,
    cron: schedule.cron,
    timeZone: schedule.timeZone,
    payload: Buffer.from(schedule.payload),
    headers: JSON.stringify(schedule.headers),
    priority: schedule.priority,
    maxAttempts: schedule.maxAttempts,
    nextRunTime: schedule.nextRunTime,
  });
  return rows[0] && toRecord(rows[0]);
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
  const { rows } = await run(db, sql.SchedulePage, { afterName: filter.afterName ?? null, limit: filter.limit, maxBytes: filter.maxBytes });
  return { schedules: rows.map(toRecord), more: rows.at(-1)?.more ?? false };
}

/** Returns false when no schedule has that name. */
export async function scheduleDelete(db: Queryable, name: string): Promise<boolean> {
  const { rows } = await run(db, sql.ScheduleDelete, { name });
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
  const { rows } = await run(tx, sql.ScheduleClaimDue, { limit, now });
  return { schedules: rows.map(toRecord), now: rows[0]?.db_now };
}

export interface ScheduleAdvance {
  name: string;
  /** The fire time just fired; null moves the schedule on without recording a fire. */
  lastRunTime: Date | null;
  nextRunTime: Date;
}

export async function scheduleAdvance(tx: Queryable, advances: ScheduleAdvance[]): Promise<void> {
  await run(tx, sql.ScheduleAdvance, {
    names: advances.map((a) => a.name),
    lastRunTimes: advances.map((a) => a.lastRunTime),
    nextRunTimes: advances.map((a) => a.nextRunTime),
  });
}
