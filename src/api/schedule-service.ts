import { create } from "@bufbuild/protobuf";
import { type Duration, durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CreateScheduleResponseSchema,
  DeleteScheduleResponseSchema,
  ListSchedulesResponseSchema,
  OverlapPolicy,
  PauseScheduleResponseSchema,
  ResumeScheduleResponseSchema,
  type Schedule,
  ScheduleSchema,
  type ScheduleService,
  TriggerScheduleResponseSchema,
  UpdateScheduleResponseSchema,
} from "../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { BatonError, invalidArgument, notFound } from "../errors.js";
import { type FireJobOptions, enqueueFires } from "../maintenance/schedule-fires.js";
import type { Database } from "../store/database.js";
import {
  type NewSchedule,
  type OverlapPolicy as StoredOverlapPolicy,
  type ScheduleRecord,
  scheduleAdvance,
  scheduleCreate,
  scheduleDelete,
  scheduleLock,
  scheduleNow,
  schedulePage,
  scheduleSetPaused,
  scheduleUpdate,
} from "../store/schedules.js";
import { type Cron, MAX_EXPRESSION_LENGTH, parseCron } from "../util/cron.js";
import { jobToProto } from "./job-mapper.js";
import { decodeNamePageToken, encodeNamePageToken, pageSize } from "./page-token.js";
import { type EnqueueLimits, durationSeconds, validateHeaders, validateMaxAttempts, validatePayload, validateQueueName, validateText } from "./validate.js";

export interface ScheduleServiceDeps {
  db: Database;
  /** A schedule's payload and headers become a job's at every fire: the same limits apply. */
  limits: EnqueueLimits & {
    /** Most bytes of payloads and headers in one ListSchedules page (BATON_MAX_PAGE_BYTES). */
    maxPageBytes: number;
  };
  /** How TriggerSchedule enqueues its job: as the scheduler does. */
  firing: FireJobOptions;
}

/** Longest IANA zone name is about 30 characters; this only bounds what is echoed and parsed. */
const MAX_TIME_ZONE_BYTES = 128;
/**
 * Bounds of catchup_window. Under 10 seconds a fire found a little late (the scheduler looks
 * every BATON_SCHEDULER_SECONDS) would count as missed; a year of made-up fires is plenty.
 */
const MIN_CATCHUP_WINDOW_SECONDS = 10;
const MAX_CATCHUP_WINDOW_SECONDS = 366 * 24 * 3600;

const overlapPolicies = new Map<OverlapPolicy, StoredOverlapPolicy>([
  [OverlapPolicy.UNSPECIFIED, "allow"],
  [OverlapPolicy.ALLOW, "allow"],
  [OverlapPolicy.SKIP, "skip"],
]);

/** UpdateSchedule's field-mask paths, and the Schedule field each one names. */
const UPDATABLE_FIELDS: Record<string, keyof Schedule> = {
  queue: "queue",
  cron: "cron",
  time_zone: "timeZone",
  payload: "payload",
  headers: "headers",
  priority: "priority",
  max_attempts: "maxAttempts",
  catchup_window: "catchupWindow",
  overlap_policy: "overlapPolicy",
};

export function createScheduleService({ db, limits, firing }: ScheduleServiceDeps): Partial<ServiceImpl<typeof ScheduleService>> {
  return {
    async createSchedule(request) {
      if (!request.schedule) throw invalidArgument("schedule is required");
      const { schedule, cron } = validateSchedule(request.schedule, limits);
      // The first fire time is computed from the database's clock, like every later one.
      const created = await scheduleCreate(db, { ...schedule, nextRunTime: cron.nextAfter(await scheduleNow(db)) });
      if (!created) {
        throw new BatonError("already_exists", `schedule "${schedule.name}" already exists; UpdateSchedule changes it`);
      }
      return create(CreateScheduleResponseSchema, { schedule: scheduleToProto(created) });
    },

    async listSchedules(request) {
      const limit = pageSize(request.pageSize);
      const { schedules, more } = await schedulePage(db, {
        limit,
        maxBytes: limits.maxPageBytes,
        afterName: request.pageToken === "" ? undefined : decodeNamePageToken("ListSchedules", request.pageToken),
      });
      return create(ListSchedulesResponseSchema, {
        schedules: schedules.map(scheduleToProto),
        nextPageToken: more ? encodeNamePageToken("ListSchedules", schedules[schedules.length - 1]!.name) : "",
      });
    },

    async deleteSchedule(request) {
      const name = validateQueueName(request.name, "name");
      if (!(await scheduleDelete(db, name))) throw notFound(`schedule "${name}" not found`);
      return create(DeleteScheduleResponseSchema, {});
    },

    async updateSchedule(request) {
      if (!request.schedule) throw invalidArgument("schedule is required");
      const name = validateQueueName(request.schedule.name, "schedule.name");
      const paths = request.updateMask?.paths ?? [];
      for (const path of paths) {
        if (!(path in UPDATABLE_FIELDS)) {
          throw invalidArgument(`update_mask path ${JSON.stringify(path.slice(0, 64))} is not a Schedule field UpdateSchedule sets: use ${Object.keys(UPDATABLE_FIELDS).join(", ")}`);
        }
      }
      const updated = await db.transaction(async (tx) => {
        const locked = await scheduleLock(tx, name);
        if (!locked) throw notFound(`schedule "${name}" not found`);
        const current = locked.schedule;
        const { schedule, cron } = validateSchedule(paths.length === 0 ? request.schedule! : merged(current, request.schedule!, paths), limits);
        // The pending fire time stays a fire time while the expression and zone do, so fires
        // missed while paused are still made up; a new expression starts from now.
        const unchanged = cron.expression === current.cron && cron.timeZone === current.timeZone;
        return scheduleUpdate(tx, { ...schedule, nextRunTime: unchanged ? current.nextRunTime : cron.nextAfter(locked.now) });
      });
      return create(UpdateScheduleResponseSchema, { schedule: scheduleToProto(updated) });
    },

    async pauseSchedule(request) {
      return create(PauseScheduleResponseSchema, { schedule: scheduleToProto(await setPaused(request.name, true)) });
    },

    async resumeSchedule(request) {
      return create(ResumeScheduleResponseSchema, { schedule: scheduleToProto(await setPaused(request.name, false)) });
    },

    async triggerSchedule(request) {
      const name = validateQueueName(request.name, "name");
      const { schedule, inserted } = await db.transaction(async (tx) => {
        // The lock waits for a replica firing the schedule, so the previous job is known.
        const locked = await scheduleLock(tx, name);
        if (!locked) throw notFound(`schedule "${name}" not found`);
        const { schedule } = locked;
        if (schedule.overlapPolicy === "skip" && schedule.previousJobUnfinished) {
          throw new BatonError(
            "failed_precondition",
            `schedule "${name}" has overlap_policy OVERLAP_POLICY_SKIP and the job of its previous fire (${schedule.lastJobId}) is unfinished`,
          );
        }
        // Later than the previous fire, so that each trigger has a fire time (and dedup_key) of its own.
        const fireTime = schedule.lastRunTime && schedule.lastRunTime >= locked.now ? new Date(schedule.lastRunTime.getTime() + 1) : locked.now;
        const [inserted] = await enqueueFires(tx, [{ schedule, fireTime, triggered: true }], firing, null);
        // next_run_time stays: a trigger is an extra fire, not one of the cron's.
        await scheduleAdvance(tx, [{ name, lastRunTime: fireTime, nextRunTime: schedule.nextRunTime, lastJobId: inserted!.job.id }]);
        return { schedule: { ...schedule, lastRunTime: fireTime, lastJobId: inserted!.job.id }, inserted: inserted! };
      });
      if (!inserted.deduplicated) firing.onEnqueued?.([inserted.job]);
      return create(TriggerScheduleResponseSchema, { schedule: scheduleToProto(schedule), job: jobToProto(inserted.job) });
    },
  };

  async function setPaused(requestName: string, paused: boolean): Promise<ScheduleRecord> {
    const name = validateQueueName(requestName, "name");
    const schedule = await scheduleSetPaused(db, name, paused);
    if (!schedule) throw notFound(`schedule "${name}" not found`);
    return schedule;
  }
}

/** The current schedule with the fields `paths` name taken from the request. */
function merged(current: ScheduleRecord, request: Schedule, paths: string[]): Schedule {
  const schedule = scheduleToProto(current);
  for (const path of paths) copyField(schedule, request, UPDATABLE_FIELDS[path]!);
  return schedule;
}

function copyField<K extends keyof Schedule>(target: Schedule, source: Schedule, field: K): void {
  target[field] = source[field];
}

interface ValidSchedule {
  /** Everything but the next fire time, which needs the database's clock. */
  schedule: Omit<NewSchedule, "nextRunTime">;
  cron: Cron;
}

/** next_run_time, last_run_time and paused are output only: ignored here, as a client may send back a listed schedule. */
function validateSchedule(schedule: Schedule, limits: ScheduleServiceDeps["limits"]): ValidSchedule {
  const name = validateQueueName(schedule.name, "schedule.name");
  const queue = validateQueueName(schedule.queue, "schedule.queue");
  const timeZone = validateText(schedule.timeZone.trim(), "schedule.time_zone", MAX_TIME_ZONE_BYTES) || "UTC";
  const cron = parseCron(validateText(schedule.cron, "schedule.cron", MAX_EXPRESSION_LENGTH), timeZone, { cron: "schedule.cron", timeZone: "schedule.time_zone" });
  validatePayload(schedule.payload, limits, "schedule.payload");
  validateHeaders(schedule.headers, limits, "schedule.headers");
  validateMaxAttempts(schedule.maxAttempts, "schedule.max_attempts");
  const overlapPolicy = overlapPolicies.get(schedule.overlapPolicy);
  if (overlapPolicy === undefined) {
    throw invalidArgument(`schedule.overlap_policy ${schedule.overlapPolicy} is not an OverlapPolicy: use OVERLAP_POLICY_ALLOW or OVERLAP_POLICY_SKIP`);
  }
  return {
    schedule: {
      name,
      queue,
      cron: cron.expression,
      timeZone,
      payload: schedule.payload,
      headers: schedule.headers,
      priority: schedule.priority,
      maxAttempts: schedule.maxAttempts || null,
      catchupWindowSeconds: catchupWindowSeconds(schedule.catchupWindow),
      overlapPolicy,
    },
    cron,
  };
}

/** null (fire once for the latest missed time) when unset or zero. */
function catchupWindowSeconds(window: Duration | undefined): number | null {
  if (!window) return null;
  const seconds = durationSeconds(window, "schedule.catchup_window");
  if (seconds === 0) return null;
  if (seconds < MIN_CATCHUP_WINDOW_SECONDS || seconds > MAX_CATCHUP_WINDOW_SECONDS) {
    throw invalidArgument(
      `schedule.catchup_window is ${seconds}s; it must be between ${MIN_CATCHUP_WINDOW_SECONDS} seconds and 366 days, or unset (a schedule that missed fire times fires once, for the latest)`,
    );
  }
  return seconds;
}

function scheduleToProto(row: ScheduleRecord): Schedule {
  return create(ScheduleSchema, {
    name: row.name,
    queue: row.queue,
    cron: row.cron,
    timeZone: row.timeZone,
    payload: row.payload,
    headers: row.headers,
    priority: row.priority,
    maxAttempts: row.maxAttempts ?? 0,
    nextRunTime: timestampFromDate(row.nextRunTime),
    lastRunTime: row.lastRunTime ? timestampFromDate(row.lastRunTime) : undefined,
    paused: row.paused,
    catchupWindow: row.catchupWindowSeconds === null ? undefined : durationFromMs(Math.round(row.catchupWindowSeconds * 1000)),
    overlapPolicy: row.overlapPolicy === "skip" ? OverlapPolicy.SKIP : OverlapPolicy.ALLOW,
  });
}
