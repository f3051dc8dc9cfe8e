import { create } from "@bufbuild/protobuf";
import {
  CreateScheduleResponseSchema,
  DeleteScheduleResponseSchema,
  ListSchedulesResponseSchema,
  type Schedule,
} from "../../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { MAX_PAGE_SIZE, allPages } from "../../../clients/ts/src/pages.js";
import { type Command, RECORD_OUTPUTS, TABLE_OUTPUTS } from "../args.js";
import { connect } from "../client.js";
import { ExitCode, UsageError } from "../errors.js";
import { bytesText, details, fullTime, mapText, relativeTime, table } from "../output.js";
import { PAYLOAD_FLAGS, payloadFromFlags } from "../payload.js";

/** `wide` adds what each job gets and the times in full. */
function scheduleTable(schedules: Schedule[], { wide = false, now = Date.now() } = {}): string {
  const time = (ts: Schedule["nextRunTime"]) => (wide ? fullTime(ts, now) : relativeTime(ts, now));
  return table(
    ["NAME", "QUEUE", "CRON", "TIME ZONE", "NEXT RUN", "LAST RUN", ...(wide ? ["PRIORITY", "MAX ATTEMPTS", "HEADERS"] : [])],
    schedules.map((s) => [
      s.name,
      s.queue,
      s.cron,
      s.timeZone || "UTC",
      time(s.nextRunTime),
      time(s.lastRunTime),
      ...(wide ? [String(s.priority), s.maxAttempts === 0 ? "queue default" : String(s.maxAttempts), mapText(s.headers).replace(/\n/g, ",")] : []),
    ]),
  );
}

function scheduleDetails(s: Schedule, now = Date.now()): string {
  return details([
    ["name", s.name],
    ["queue", s.queue],
    ["cron", s.cron],
    ["time zone", s.timeZone || "UTC"],
    ["next run", fullTime(s.nextRunTime, now)],
    ["last run", fullTime(s.lastRunTime, now)],
    ["priority", String(s.priority)],
    ["max attempts", s.maxAttempts === 0 ? "queue default" : String(s.maxAttempts)],
    ["headers", mapText(s.headers)],
    ["payload", bytesText(s.payload)],
  ]);
}

const createCommand: Command = {
  name: "schedules create",
  summary: "Create a cron schedule that enqueues a job each time it fires.",
  positionals: [{ name: "name" }],
  flags: {
    queue: { type: "string", value: "<queue>", description: "queue the jobs go to (required)" },
    cron: { type: "string", value: "<expr>", description: 'five-field cron expression, e.g. "*/5 * * * *" (required)' },
    "time-zone": { type: "string", value: "<zone>", description: "IANA time zone the expression is read in (default UTC)" },
    ...PAYLOAD_FLAGS,
    header: { type: "string", value: "<key=value>", multiple: true, description: "a header for each job; repeat for more" },
    priority: { type: "string", value: "<n>", description: "priority of each job (lower runs first)" },
    "max-attempts": { type: "string", value: "<n>", description: "attempts of each job (default: the queue's)" },
  },
  outputs: RECORD_OUTPUTS,
  examples: [`baton schedules create nightly-report --queue reports --cron "0 3 * * *" --time-zone Europe/Paris`],
  async run({ args, flags, url, document, out }) {
    const queue = flags.string("queue");
    const cron = flags.string("cron");
    if (queue === undefined) throw new UsageError("--queue is required");
    if (cron === undefined) throw new UsageError('--cron is required, e.g. --cron "*/5 * * * *"');
    const response = await connect(url).schedules.createSchedule({
      schedule: {
        name: args[0]!,
        queue,
        cron,
        timeZone: flags.string("time-zone") ?? "",
        payload: payloadFromFlags(flags),
        headers: flags.pairs("header"),
        priority: flags.int("priority") ?? 0,
        maxAttempts: flags.int("max-attempts", { min: 1 }) ?? 0,
      },
    });
    if (document) out.message(document, CreateScheduleResponseSchema, response);
    else out.print(scheduleDetails(response.schedule!));
    return ExitCode.ok;
  },
};

const list: Command = {
  name: "schedules list",
  aliases: ["ls"],
  summary: "List schedules with their next and last run times.",
  notes: "-o wide shows the times in full and adds each job's priority, max attempts and headers.",
  flags: {},
  outputs: TABLE_OUTPUTS,
  examples: ["baton schedules list", "baton schedules ls -o wide"],
  async run({ url, document, wide, out }) {
    const client = connect(url).schedules;
    const schedules = await allPages((pageToken) => client.listSchedules({ pageSize: MAX_PAGE_SIZE, pageToken }), (page) => page.schedules);
    if (document) out.message(document, ListSchedulesResponseSchema, create(ListSchedulesResponseSchema, { schedules }));
    else if (schedules.length === 0) out.note("no schedules");
    else out.print(scheduleTable(schedules, { wide }));
    return ExitCode.ok;
  },
};

const deleteCommand: Command = {
  name: "schedules delete",
  aliases: ["rm"],
  summary: "Delete a schedule (jobs it already enqueued stay).",
  positionals: [{ name: "name" }],
  flags: {},
  outputs: RECORD_OUTPUTS,
  examples: ["baton schedules delete nightly-report", "baton schedules rm nightly-report"],
  async run({ args, url, document, out }) {
    const response = await connect(url).schedules.deleteSchedule({ name: args[0]! });
    if (document) out.message(document, DeleteScheduleResponseSchema, response);
    else out.print(`deleted schedule ${args[0]!}`);
    return ExitCode.ok;
  },
};

export const scheduleCommands: Command[] = [createCommand, list, deleteCommand];
