import type { Database, Queryable } from "../store/database.js";
import type { JobRecord } from "../store/job-record.js";
import { type Now, createdJobs } from "../store/jobs.js";
import { type FireableSchedule, type ScheduleAdvance, scheduleAdvance, scheduleClaimDue } from "../store/schedules.js";
import { parseCron } from "../util/cron.js";
import type { Logger } from "../util/log.js";
import { batchedTask } from "./batched-task.js";
import type { MaintenanceTask } from "./maintainer.js";
import { type Fire, type FireJobOptions, type FirePlan, enqueueFires, planFires } from "./schedule-fires.js";

export interface SchedulerOptions extends FireJobOptions {
  db: Database;
  log: Logger;
  /** How often due schedules are looked for (jittered ±20%); 1000 keeps seconds-level crons on time. */
  intervalMs: number;
  /** Schedules per transaction; the scheduler loops until none is left due. */
  batchSize?: number;
  /** Fixed time for tests; null (the default) means database time. */
  now?: () => Now;
}

/** How long a schedule whose stored definition no longer parses waits before it is tried again. */
const BROKEN_RETRY_MS = 60 * 60 * 1000;

/**
 * Fires cron schedules. Runs on every replica: each batch locks due, unpaused schedules with
 * SKIP LOCKED, enqueues a job per fire time and moves next_run_time on, all in one
 * transaction, so a fire time fires on exactly one replica and a crash mid-batch fires nothing.
 *
 * Missed fires (every replica was down, the database was unreachable, or the schedule was
 * paused): see planFires. Without a catch-up window a schedule fires once, for the latest fire
 * time that passed: a recurring job usually syncs state "as of now", so a burst of catch-up
 * runs would repeat the same work. With one, each fire time within it is made up once, oldest
 * first, with the dedup_key (`schedule:<name>:<fire time>`) it would have had on time.
 */
export function schedulerTask(options: SchedulerOptions): MaintenanceTask {
  return batchedTask("scheduler", options.intervalMs, options.batchSize ?? 100, async (batchSize) => {
    const { claimed, stillDue, created } = await options.db.transaction((tx) => fireDue(tx, batchSize, options));
    if (created.length > 0) options.onEnqueued?.(created);
    // A schedule with more missed fire times than one transaction fires is still due: the
    // batch counts as full, so the run goes on.
    return stillDue ? batchSize : claimed;
  });
}

interface BatchOutcome {
  claimed: number;
  /** Whether a schedule of the batch has made-up fires left (its next_run_time is still due). */
  stillDue: boolean;
  created: JobRecord[];
}

async function fireDue(tx: Queryable, batchSize: number, options: SchedulerOptions): Promise<BatchOutcome> {
  const now = options.now?.() ?? null;
  const due = await scheduleClaimDue(tx, batchSize, now);
  if (due.now === undefined) return { claimed: 0, stillDue: false, created: [] };
  const plans = due.schedules.map((schedule) => ({ schedule, plan: planOrPostpone(schedule, due.now!, options.log) }));
  const fires: Fire[] = plans.flatMap(({ schedule, plan }) => plan.fireTimes.map((fireTime) => ({ schedule, fireTime, triggered: false })));
  const inserted = await enqueueFires(tx, fires, options, now);
  for (const { job, deduplicated } of inserted) {
    // Locking makes this unreachable; the dedup key only guards against a double fire.
    if (deduplicated) options.log.warn("schedule fire was already enqueued", { dedupKey: job.dedupKey, job: job.id });
  }
  // The job of each schedule's latest fire: what overlap_policy "skip" looks at next time.
  const jobOfLatestFire = new Map(fires.map((fire, i) => [fire.schedule.name, inserted[i]!.job.id]));
  const advances: ScheduleAdvance[] = plans.map(({ schedule, plan }) => ({
    name: schedule.name,
    lastRunTime: plan.fireTimes.at(-1) ?? null,
    nextRunTime: plan.nextRunTime,
    lastJobId: jobOfLatestFire.get(schedule.name) ?? null,
  }));
  await scheduleAdvance(tx, advances);
  if (fires.length > 0) options.log.debug("fired schedules", { fires: fires.length });
  return { claimed: due.schedules.length, stillDue: plans.some(({ plan }) => plan.nextRunTime <= due.now!), created: createdJobs(inserted) };
}

function planOrPostpone(schedule: FireableSchedule, now: Date, log: Logger): FirePlan {
  try {
    return planFires(schedule, parseCron(schedule.cron, schedule.timeZone), now);
  } catch (error) {
    // Only a definition written around the API gets here; it must not stall the other schedules.
    log.error("schedule cannot be evaluated; retrying in an hour", { schedule: schedule.name, cron: schedule.cron, error });
    return { fireTimes: [], nextRunTime: new Date(now.getTime() + BROKEN_RETRY_MS) };
  }
}
