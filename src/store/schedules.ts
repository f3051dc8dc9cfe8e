import type { Queryable } from "./database.js";
import { type Now, loadStatements, param, row, run, statement } from "./statements.js";

const now = param<Now>();
const name = param<string>();
const limit = param<number>();

/** The parameters of a whole definition, as ScheduleCreate and ScheduleUpdate take it. */
const definition = {
  name,
  queue: param<string>(),
  cron: param<string>(),
  timeZone: param<string>(),
  payload: param<Buffer>(),
  headers: param<string>(),
  priority: param<number>(),
  maxAttempts: param<number | null>(),
  catchupWindowSeconds: param<number | null>(),
  overlapPolicy: param<OverlapPolicy>(),
  nextRunTime: param<Date>(),
};

/** A schedule as the statements that may fire it return it. */
type FireableRow = ScheduleRow & { previous_job_unfinished: boolean; db_now: Date };

const sql = loadStatements(new URL("./sql/schedules.sql", import.meta.url), {
  ScheduleNow: statement({ now }, row<{ now: Date }>()),
  ScheduleCreate: statement(definition, row<ScheduleRow>()),
  SchedulePage: statement({ afterName: param<string | null>(), limit, maxBytes: param<number>() }, row<ScheduleRow & { more: boolean }>()),
  ScheduleDelete: statement({ name }, row<{ name: string }>()),
  ScheduleLock: statement({ name, now }, row<FireableRow>()),
  ScheduleUpdate: statement(definition, row<ScheduleRow>()),
  ScheduleSetPaused: statement({ name, paused: param<boolean>() }, row<ScheduleRow>()),
  ScheduleClaimDue: statement({ limit, now }, row<FireableRow>()),
  ScheduleAdvance: statement({
    names: param<string[]>(),
    lastRunTimes: param<(Date | null)[]>(),
    nextRunTimes: param<Date[]>(),
    lastJobIds: param<(string | null)[]>(),
  }),
});

/**
 * What a fire time does while the previous fire's job is unfinished: "allow" enqueues anyway,
 * "skip" lets the fire time pass without a job.
 */
export type OverlapPolicy = "allow" | "skip";

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
  paused: boolean;
  /** Null: missed fire times fire once, for the latest; else every one this recent fires. */
  catchupWindowSeconds: number | null;
  overlapPolicy: OverlapPolicy;
  /** The job of the latest fire; null before the first. */
  lastJobId: string | null;
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
  paused: boolean;
  catchup_window_seconds: number | null;
  overlap_policy: OverlapPolicy;
  last_job_id: string | null;
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
  paused: row.paused,
  catchupWindowSeconds: row.catchup_window_seconds,
  overlapPolicy: row.overlap_policy,
  lastJobId: row.last_job_id,
});

/** A schedule that may be fired now, and what firing it depends on. */
export interface FireableSchedule extends ScheduleRecord {
  /** Whether the job of the latest fire has yet to finish. */
  previousJobUnfinished: boolean;
}

const toFireable = (row: FireableRow): FireableSchedule => ({ ...toRecord(row), previousJobUnfinished: row.previous_job_unfinished });

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
  catchupWindowSeconds: number | null;
  overlapPolicy: OverlapPolicy;
  nextRunTime: Date;
}

const definitionParams = (schedule: NewSchedule) => ({
  name: schedule.name,
  queue: schedule.queue,
  cron: schedule.cron,
  timeZone: schedule.timeZone,
  payload: Buffer.from(schedule.payload),
  headers: JSON.stringify(schedule.headers),
  priority: schedule.priority,
  maxAttempts: schedule.maxAttempts,
  catchupWindowSeconds: schedule.catchupWindowSeconds,
  overlapPolicy: schedule.overlapPolicy,
  nextRunTime: schedule.nextRunTime,
});

/** The database's clock (or `now`), which every fire time is computed from. */
export async function scheduleNow(db: Queryable, now: Now = null): Promise<Date> {
  const { rows } = await run(db, sql.ScheduleNow, { now });
  return rows[0]!.now;
}

/** Inserts a schedule; undefined when a schedule of that name exists. */
export async function scheduleCreate(db: Queryable, schedule: NewSchedule): Promise<ScheduleRecord | undefined> {
  const { rows } = await run(db, sql.ScheduleCreate, definitionParams(schedule));
  return rows[0] && toRecord(rows[0]);
}

export interface LockedSchedule {
  schedule: FireableSchedule;
  /** The instant it was locked at: what a trigger's fire time and a new next_run_time are computed from. */
  now: Date;
}

/**
 * Locks one schedule until the end of the caller's transaction, waiting for a replica that is
 * firing it; undefined when no schedule has that name.
 */
export async function scheduleLock(tx: Queryable, name: string, now: Now = null): Promise<LockedSchedule | undefined> {
  const { rows } = await run(tx, sql.ScheduleLock, { name, now });
  return rows[0] && { schedule: toFireable(rows[0]), now: rows[0].db_now };
}

/** Replaces the definition of a schedule locked by {@link scheduleLock}. */
export async function scheduleUpdate(tx: Queryable, schedule: NewSchedule): Promise<ScheduleRecord> {
  const { rows } = await run(tx, sql.ScheduleUpdate, definitionParams(schedule));
  return toRecord(rows[0]!);
}

/** Pauses or resumes a schedule; undefined when no schedule has that name. */
export async function scheduleSetPaused(db: Queryable, name: string, paused: boolean): Promise<ScheduleRecord | undefined> {
  const { rows } = await run(db, sql.ScheduleSetPaused, { name, paused });
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
  schedules: FireableSchedule[];
  /** The instant they were found due at: what fire times are computed from. */
  now: Date | undefined;
}

/**
 * Locks up to `limit` due schedules until the end of the caller's transaction, skipping those
 * another replica holds. Must run inside a transaction that also advances them.
 */
export async function scheduleClaimDue(tx: Queryable, limit: number, now: Now = null): Promise<DueSchedules> {
  const { rows } = await run(tx, sql.ScheduleClaimDue, { limit, now });
  return { schedules: rows.map(toFireable), now: rows[0]?.db_now };
}

export interface ScheduleAdvance {
  name: string;
  /** The latest fire time just fired; null moves the schedule on without recording a fire. */
  lastRunTime: Date | null;
  nextRunTime: Date;
  /** The job of that fire; null when it fired none. */
  lastJobId: string | null;
}

export async function scheduleAdvance(tx: Queryable, advances: ScheduleAdvance[]): Promise<void> {
  await run(tx, sql.ScheduleAdvance, {
    names: advances.map((a) => a.name),
    lastRunTimes: advances.map((a) => a.lastRunTime),
    nextRunTimes: advances.map((a) => a.nextRunTime),
    lastJobIds: advances.map((a) => a.lastJobId),
  });
}
