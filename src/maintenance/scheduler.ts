import type { Database, Queryable } from "../store/database.js";
import type { JobRecord, NewJob } from "../store/job-record.js";
import { type Now, jobInsertMany } from "../store/jobs.js";
import { type ScheduleAdvance, type ScheduleRecord, scheduleAdvance, scheduleClaimDue } from "../store/schedules.js";
import type { JobSampling } from "../telemetry/job-sampling.js";
import type { Logger } from "../util/log.js";
import { batchedTask } from "./batched-task.js";
import type { MaintenanceTask } from "./maintainer.js";
import { parseCron } from "../util/cron.js";

export interface SchedulerOptions {
  db: Database;
  log: Logger;
  /** How often due schedules are looked for (jittered ±20%); 1000 keeps seconds-level crons on time. */
  intervalMs: number;
  /** max_attempts of a fired job when neither its schedule nor its queue names one. */
  defaultMaxAttempts: number;
  /** Schedules per transaction; the scheduler loops until a batch comes back short. */
  batchSize?: number;
  /** Called after a batch commits with the jobs it created, so this replica can count and deliver them at once. */
  onEnqueued?(jobs: JobRecord[]): void;
  /** Applies OTEL_TRACES_SAMPLER's root sampler to the traces the fired jobs start; unset when tracing is off. */
  traceSampling?: JobSampling | undefined;
  /** Fixed time for tests; null (the default) means database time. */
  now?: () => Now;
}

/** How long a schedule whose stored definition no longer parses waits before it is tried again. */
const BROKEN_RETRY_MS = 60 * 60 * 1000;

/**
 * Fires cron schedules. Runs on every replica: each batch locks due schedules with SKIP
 * LOCKED, enqueues one job per schedule and moves next_run_time past now, all in one
 * transaction, so a fire time fires on exactly one replica and a crash mid-batch fires nothing.
 *
 * Missed fires: a schedule that fell behind (every replica was down, or the database was
 * unreachable, across several fire times) fires once, for the latest fire time that has
 * passed, and skips the earlier ones; its next fire is the first fire time after now. A
 * recurring job usually syncs state "as of now", so a burst of catch-up runs would repeat the
 * same work; jobs that need every interval covered can read the interval from the job's
 * dedup_key (`schedule:<name>:<fire time>`) and the previous run.
 */
export function schedulerTask(options: SchedulerOptions): MaintenanceTask {
  return batchedTask("scheduler", options.intervalMs, options.batchSize ?? 100, async (batchSize) => {
    const { claimed, created } = await options.db.transaction((tx) => fireDue(tx, batchSize, options));
    if (created.length > 0) options.onEnqueued?.(created);
    return claimed;
  });
}

interface BatchOutcome {
  claimed: number;
  created: JobRecord[];
}

async function fireDue(tx: Queryable, batchSize: number, options: SchedulerOptions): Promise<BatchOutcome> {
  const now = options.now?.() ?? null;
  const due = await scheduleClaimDue(tx, batchSize, now);
  if (due.now === undefined) return { claimed: 0, created: [] };
  const jobs: NewJob[] = [];
  const advances: ScheduleAdvance[] = [];
  for (const schedule of due.schedules) {
    const fire = planFire(schedule, due.now, options.log);
    advances.push({ name: schedule.name, lastRunTime: fire.fireTime, nextRunTime: fire.nextRunTime });
    if (fire.fireTime) jobs.push(scheduledJob(schedule, fire.fireTime));
  }
  const created: JobRecord[] = [];
  if (jobs.length > 0) {
    const inserted = await jobInsertMany(tx, options.traceSampling?.startTraces(jobs) ?? jobs, { defaultMaxAttempts: options.defaultMaxAttempts, now });
    for (const { job, deduplicated } of inserted) {
      // Locking makes this unreachable; the dedup key only guards against a double fire.
      if (deduplicated) options.log.warn("schedule fire was already enqueued", { dedupKey: job.dedupKey, job: job.id });
      else created.push(job);
    }
  }
  await scheduleAdvance(tx, advances);
  if (jobs.length > 0) options.log.debug("fired schedules", { schedules: jobs.length });
  return { claimed: due.schedules.length, created };
}

interface PlannedFire {
  /** The fire time this run stands for; null when the schedule cannot be evaluated. */
  fireTime: Date | null;
  nextRunTime: Date;
}

/**
 * The fire time a due schedule fires for now, and its next one. next_run_time is normally a
 * fire time itself; the latest fire time at or before now is later than it when fires were
 * missed. The max keeps a hand-edited next_run_time that is not a fire time working.
 */
function planFire(schedule: ScheduleRecord, now: Date, log: Logger): PlannedFire {
  try {
    const cron = parseCron(schedule.cron, schedule.timeZone);
    const latest = cron.latestAtOrBefore(now);
    const fireTime = latest && latest > schedule.nextRunTime ? latest : schedule.nextRunTime;
    return { fireTime, nextRunTime: cron.nextAfter(now) };
  } catch (error) {
    // Only a definition written around the API gets here; it must not stall the other schedules.
    log.error("schedule cannot be evaluated; retrying in an hour", { schedule: schedule.name, cron: schedule.cron, error });
    return { fireTime: null, nextRunTime: new Date(now.getTime() + BROKEN_RETRY_MS) };
  }
}

function scheduledJob(schedule: ScheduleRecord, fireTime: Date): NewJob {
  const job: NewJob = {
    queue: schedule.queue,
    payload: schedule.payload,
    headers: schedule.headers,
    priority: schedule.priority,
    dedupKey: `schedule:${schedule.name}:${fireTime.toISOString()}`,
  };
  // Left unset, max_attempts comes from the queue's setting, then the broker's default.
  if (schedule.maxAttempts !== null) job.maxAttempts = schedule.maxAttempts;
  return job;
}
