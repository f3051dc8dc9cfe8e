import type { Queryable } from "../store/database.js";
import type { JobRecord, NewJob } from "../store/job-record.js";
import { type InsertedJob, type Now, jobInsertMany } from "../store/jobs.js";
import type { FireableSchedule, ScheduleRecord } from "../store/schedules.js";
import type { JobSampling } from "../telemetry/job-sampling.js";
import type { Cron } from "../util/cron.js";

/**
 * What a schedule's fires are: which fire times a due schedule fires (catch-up and overlap),
 * and the job each fire enqueues. Shared by the scheduler and TriggerSchedule.
 */

/** What enqueueing a fire's job needs besides the schedule. */
export interface FireJobOptions {
  /** max_attempts of a fired job when neither its schedule nor its queue names one. */
  defaultMaxAttempts: number;
  /** Applies OTEL_TRACES_SAMPLER's root sampler to the traces the fired jobs start; unset when tracing is off. */
  traceSampling?: JobSampling | undefined;
  /** Called after a fire commits with the jobs it created, so this replica can count and deliver them at once. */
  onEnqueued?(jobs: JobRecord[]): void;
}

/** Most fire times one schedule makes up per scheduler transaction; the rest follow in the next ones. */
export const MAX_FIRES_PER_CLAIM = 100;

export interface FirePlan {
  /** The fire times that enqueue a job now, oldest first. */
  fireTimes: Date[];
  /** The schedule's next fire time; at or before now while made-up fires remain. */
  nextRunTime: Date;
}

/**
 * The fire times a due schedule fires at `now`, and its next one.
 *
 * Without a catch-up window, a schedule that missed fire times fires once, for the latest that
 * passed (at least next_run_time, which keeps a hand-edited next_run_time that is not a fire
 * time working), and its next fire is the first after now. With a window, every fire time from
 * next_run_time on that is at most the window old fires, oldest first (up to
 * MAX_FIRES_PER_CLAIM per call; next_run_time then stays due for the rest); older ones pass
 * without a job.
 *
 * With overlap_policy "skip", no fire time fires while the previous fire's job is unfinished,
 * and of several made up at once only the oldest does: its job is unfinished when the others
 * come.
 */
export function planFires(schedule: FireableSchedule, cron: Cron, now: Date): FirePlan {
  const plan = schedule.catchupWindowSeconds === null ? latestFire(schedule, cron, now) : windowFires(schedule, cron, now, schedule.catchupWindowSeconds);
  if (schedule.overlapPolicy === "skip") {
    plan.fireTimes = schedule.previousJobUnfinished ? [] : plan.fireTimes.slice(0, 1);
  }
  return plan;
}

function latestFire(schedule: ScheduleRecord, cron: Cron, now: Date): FirePlan {
  const latest = cron.latestAtOrBefore(now);
  const fireTime = latest && latest > schedule.nextRunTime ? latest : schedule.nextRunTime;
  return { fireTimes: [fireTime], nextRunTime: cron.nextAfter(now) };
}

function windowFires(schedule: ScheduleRecord, cron: Cron, now: Date, windowSeconds: number): FirePlan {
  const oldest = new Date(now.getTime() - windowSeconds * 1000);
  // The first fire time at or after `oldest` (nextAfter is strictly after; fire times are whole seconds).
  let fireTime = schedule.nextRunTime >= oldest ? schedule.nextRunTime : cron.nextAfter(new Date(oldest.getTime() - 1));
  const fireTimes: Date[] = [];
  while (fireTime <= now && fireTimes.length < MAX_FIRES_PER_CLAIM) {
    fireTimes.push(fireTime);
    fireTime = cron.nextAfter(fireTime);
  }
  return { fireTimes, nextRunTime: fireTime };
}

/** One job to enqueue for a schedule: at a cron fire time, or now for TriggerSchedule. */
export interface Fire {
  schedule: ScheduleRecord;
  fireTime: Date;
  triggered: boolean;
}

/**
 * A fire's dedup_key names the schedule and the fire time, so a fire time enqueues one job
 * however many replicas, retries or catch-ups reach it; a trigger's is marked apart from the
 * cron fire of the same instant.
 */
export function fireDedupKey(fire: Fire): string {
  return `schedule:${fire.schedule.name}:${fire.triggered ? "trigger:" : ""}${fire.fireTime.toISOString()}`;
}

/** Enqueues every fire's job in one statement; each fire's job in order (an earlier one when its dedup key was taken). */
export async function enqueueFires(tx: Queryable, fires: Fire[], options: FireJobOptions, now: Now): Promise<InsertedJob[]> {
  if (fires.length === 0) return [];
  const jobs = fires.map(fireJob);
  return jobInsertMany(tx, options.traceSampling?.startTraces(jobs) ?? jobs, { defaultMaxAttempts: options.defaultMaxAttempts, now });
}

function fireJob(fire: Fire): NewJob {
  const { schedule } = fire;
  const job: NewJob = {
    queue: schedule.queue,
    payload: schedule.payload,
    headers: schedule.headers,
    priority: schedule.priority,
    dedupKey: fireDedupKey(fire),
  };
  // Left unset, max_attempts comes from the queue's setting, then the broker's default.
  if (schedule.maxAttempts !== null) job.maxAttempts = schedule.maxAttempts;
  return job;
}
