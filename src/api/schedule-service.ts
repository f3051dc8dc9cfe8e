import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  CreateScheduleResponseSchema,
  DeleteScheduleResponseSchema,
  ListSchedulesResponseSchema,
  type Schedule,
  ScheduleSchema,
  type ScheduleService,
} from "../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { BatonError, invalidArgument, notFound } from "../errors.js";
import type { Database } from "../store/database.js";
import { type NewSchedule, type ScheduleRecord, scheduleCreate, scheduleDelete, scheduleNow, schedulePage } from "../store/schedules.js";
import { type Cron, MAX_EXPRESSION_LENGTH, parseCron } from "../util/cron.js";
import { decodeNamePageToken, encodeNamePageToken, pageSize } from "./page-token.js";
import { type EnqueueLimits, validateHeaders, validateMaxAttempts, validatePayload, validateQueueName, validateText } from "./validate.js";

export interface ScheduleServiceDeps {
  db: Database;
  /** A schedule's payload and headers become a job's at every fire: the same limits apply. */
  limits: EnqueueLimits & {
    /** Most bytes of payloads and headers in one ListSchedules page (BATON_MAX_PAGE_BYTES). */
    maxPageBytes: number;
  };
}

/** Longest IANA zone name is about 30 characters; this only bounds what is echoed and parsed. */
const MAX_TIME_ZONE_BYTES = 128;

export function createScheduleService({ db, limits }: ScheduleServiceDeps): Partial<ServiceImpl<typeof ScheduleService>> {
  return {
    async createSchedule(request) {
      if (!request.schedule) throw invalidArgument("schedule is required");
      const { schedule, cron } = validateSchedule(request.schedule, limits);
      // The first fire time is computed from the database's clock, like every later one.
      const created = await scheduleCreate(db, { ...schedule, nextRunTime: cron.nextAfter(await scheduleNow(db)) });
      if (!created) {
        throw new BatonError("already_exists", `schedule "${schedule.name}" already exists; delete it first to change it`);
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
  };
}

interface ValidSchedule {
  /** Everything but the first fire time, which needs the database's clock. */
  schedule: Omit<NewSchedule, "nextRunTime">;
  cron: Cron;
}

/** next_run_time and last_run_time are output only: ignored here, as a client may send back a listed schedule. */
function validateSchedule(schedule: Schedule, limits: ScheduleServiceDeps["limits"]): ValidSchedule {
  const name = validateQueueName(schedule.name, "schedule.name");
  const queue = validateQueueName(schedule.queue, "schedule.queue");
  const timeZone = validateText(schedule.timeZone.trim(), "schedule.time_zone", MAX_TIME_ZONE_BYTES) || "UTC";
  const cron = parseCron(validateText(schedule.cron, "schedule.cron", MAX_EXPRESSION_LENGTH), timeZone, { cron: "schedule.cron", timeZone: "schedule.time_zone" });
  validatePayload(schedule.payload, limits, "schedule.payload");
  validateHeaders(schedule.headers, limits, "schedule.headers");
  validateMaxAttempts(schedule.maxAttempts, "schedule.max_attempts");
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
    },
    cron,
  };
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
  });
}
