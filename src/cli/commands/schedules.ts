import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import {
  CreateScheduleResponseSchema,
  DeleteScheduleResponseSchema,
  ListSchedulesResponseSchema,
  OverlapPolicy,
  PauseScheduleResponseSchema,
  ResumeScheduleResponseSchema,
  type Schedule,
  ScheduleSchema,
  TriggerScheduleResponseSchema,
  UpdateScheduleResponseSchema,
} from "../../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { MAX_PAGE_SIZE, allPages } from "../../../clients/ts/src/pages.js";
import { type Command, type FlagSpec, type Flags, RECORD_OUTPUTS, TABLE_OUTPUTS } from "../args.js";
import { connect } from "../client.js";
import { ExitCode, UsageError } from "../errors.js";
import { bytesText, details, durationText, fullTime, mapText, relativeTime, table } from "../output.js";
import { PAYLOAD_FLAGS, payloadFromFlags } from "../payload.js";

const OVERLAP_POLICIES = ["allow", "skip"] as const;
const overlapText = (policy: OverlapPolicy) => (policy === OverlapPolicy.SKIP ? "skip" : "allow");
const catchupText = (s: Schedule) => durationText(s.catchupWindow, "latest only");

/** `wide` adds what each job gets and the times in full. */
function scheduleTable(schedules: Schedule[], { wide = false, now = Date.now() } = {}): string {
  const time = (ts: Schedule["nextRunTime"]) => (wide ? fullTime(ts, now) : relativeTime(ts, now));
  return table(
    ["NAME", "QUEUE", "CRON", "TIME ZONE", "NEXT RUN", "LAST RUN", ...(wide ? ["CATCH-UP", "OVERLAP", "PRIORITY", "MAX ATTEMPTS", "HEADERS"] : [])],
    schedules.map((s) => [
      s.name,
      s.queue,
      s.cron,
      s.timeZone || "UTC",
      s.paused ? "paused" : time(s.nextRunTime),
      time(s.lastRunTime),
      ...(wide
        ? [catchupText(s), overlapText(s.overlapPolicy), String(s.priority), s.maxAttempts === 0 ? "queue default" : String(s.maxAttempts), mapText(s.headers).replace(/\n/g, ",")]
        : []),
    ]),
  );
}

function scheduleDetails(s: Schedule, now = Date.now()): string {
  return details([
    ["name", s.name],
    ["queue", s.queue],
    ["cron", s.cron],
    ["time zone", s.timeZone || "UTC"],
    ["paused", s.paused ? "yes (fires nothing until resumed)" : "no"],
    ["next run", fullTime(s.nextRunTime, now)],
    ["last run", fullTime(s.lastRunTime, now)],
    ["catch-up window", catchupText(s)],
    ["overlap policy", overlapText(s.overlapPolicy)],
    ["priority", String(s.priority)],
    ["max attempts", s.maxAttempts === 0 ? "queue default" : String(s.maxAttempts)],
    ["headers", mapText(s.headers)],
    ["payload", bytesText(s.payload)],
  ]);
}

/** What a schedule's jobs get and when it fires: the flags of create and update. */
const DEFINITION_FLAGS: Record<string, FlagSpec> = {
  queue: { type: "string", value: "<queue>", description: "queue the jobs go to" },
  cron: { type: "string", value: "<expr>", description: 'five-field cron expression, e.g. "*/5 * * * *"' },
  "time-zone": { type: "string", value: "<zone>", description: "IANA time zone the expression is read in (default UTC)" },
  ...PAYLOAD_FLAGS,
  header: { type: "string", value: "<key=value>", multiple: true, description: "a header for each job; repeat for more" },
  priority: { type: "string", value: "<n>", description: "priority of each job (lower runs first)" },
  "max-attempts": { type: "string", value: "<n>", description: "attempts of each job (default: the queue's)" },
  "catchup-window": {
    type: "string",
    value: "<duration>",
    description: "make up each fire time missed (downtime, pause) at most this old, oldest first; 0s: fire once for the latest (default)",
  },
  "overlap-policy": { type: "string", value: "allow|skip", choices: OVERLAP_POLICIES, description: "skip: no job while the previous fire's job is unfinished (default allow)" },
};

/** The schedule the flags describe, and the update_mask paths of the fields they set. */
function scheduleFromFlags(name: string, flags: Flags): { schedule: Schedule; paths: string[] } {
  const schedule = create(ScheduleSchema, { name });
  const paths: string[] = [];
  const set = (path: string, apply: () => void) => {
    apply();
    paths.push(path);
  };
  const text = (flag: string) => flags.string(flag);
  if (text("queue") !== undefined) set("queue", () => (schedule.queue = text("queue")!));
  if (text("cron") !== undefined) set("cron", () => (schedule.cron = text("cron")!));
  if (text("time-zone") !== undefined) set("time_zone", () => (schedule.timeZone = text("time-zone")!));
  if (flags.count(...Object.keys(PAYLOAD_FLAGS)) > 0) set("payload", () => (schedule.payload = payloadFromFlags(flags)));
  if (flags.has("header")) set("headers", () => (schedule.headers = flags.pairs("header")));
  if (text("priority") !== undefined) set("priority", () => (schedule.priority = flags.int("priority")!));
  if (text("max-attempts") !== undefined) set("max_attempts", () => (schedule.maxAttempts = flags.int("max-attempts", { min: 1 })!));
  if (text("catchup-window") !== undefined) set("catchup_window", () => (schedule.catchupWindow = flags.duration("catchup-window")));
  const overlap = flags.choice("overlap-policy", OVERLAP_POLICIES);
  if (overlap !== undefined) set("overlap_policy", () => (schedule.overlapPolicy = overlap === "skip" ? OverlapPolicy.SKIP : OverlapPolicy.ALLOW));
  return { schedule, paths };
}

const createCommand: Command = {
  name: "schedules create",
  summary: "Create a cron schedule that enqueues a job each time it fires.",
  positionals: [{ name: "name" }],
  flags: DEFINITION_FLAGS,
  notes: "--queue and --cron are required.",
  outputs: RECORD_OUTPUTS,
  examples: [
    `baton schedules create nightly-report --queue reports --cron "0 3 * * *" --time-zone Europe/Paris`,
    `baton schedules create sync --queue sync --cron "*/5 * * * *" --catchup-window 1h --overlap-policy skip`,
  ],
  async run({ args, flags, url, document, out }) {
    if (flags.string("queue") === undefined) throw new UsageError("--queue is required");
    if (flags.string("cron") === undefined) throw new UsageError('--cron is required, e.g. --cron "*/5 * * * *"');
    const response = await connect(url).schedules.createSchedule({ schedule: scheduleFromFlags(args[0]!, flags).schedule });
    if (document) out.message(document, CreateScheduleResponseSchema, response);
    else out.print(scheduleDetails(response.schedule!));
    return ExitCode.ok;
  },
};

const update: Command = {
  name: "schedules update",
  summary: "Change a schedule (only what is given as flags).",
  positionals: [{ name: "name" }],
  flags: DEFINITION_FLAGS,
  notes: "A new --cron or --time-zone moves the next run to the expression's first fire time from now; otherwise it stays.",
  outputs: RECORD_OUTPUTS,
  examples: [`baton schedules update nightly-report --cron "0 4 * * *"`, "baton schedules update sync --catchup-window 0s --overlap-policy allow"],
  async run({ args, flags, url, document, out }) {
    const { schedule, paths } = scheduleFromFlags(args[0]!, flags);
    if (paths.length === 0) throw new UsageError(`nothing to update: give at least one of ${Object.keys(DEFINITION_FLAGS).map((f) => `--${f}`).join(", ")}`);
    const response = await connect(url).schedules.updateSchedule({ schedule, updateMask: create(FieldMaskSchema, { paths }) });
    if (document) out.message(document, UpdateScheduleResponseSchema, response);
    else out.print(scheduleDetails(response.schedule!));
    return ExitCode.ok;
  },
};

const pause: Command = {
  name: "schedules pause",
  summary: "Stop a schedule's fires until it is resumed.",
  positionals: [{ name: "name" }],
  flags: {},
  outputs: RECORD_OUTPUTS,
  examples: ["baton schedules pause nightly-report"],
  async run({ args, url, document, out }) {
    const response = await connect(url).schedules.pauseSchedule({ name: args[0]! });
    if (document) out.message(document, PauseScheduleResponseSchema, response);
    else out.print(`paused schedule ${args[0]!}`);
    return ExitCode.ok;
  },
};

const resume: Command = {
  name: "schedules resume",
  summary: "Restart a paused schedule; the fire times it missed are made up per its catch-up window.",
  positionals: [{ name: "name" }],
  flags: {},
  outputs: RECORD_OUTPUTS,
  examples: ["baton schedules resume nightly-report"],
  async run({ args, url, document, out }) {
    const response = await connect(url).schedules.resumeSchedule({ name: args[0]! });
    if (document) out.message(document, ResumeScheduleResponseSchema, response);
    else out.print(`resumed schedule ${args[0]!}`);
    return ExitCode.ok;
  },
};

const trigger: Command = {
  name: "schedules trigger",
  summary: "Fire a schedule now, once (paused or not); its next run stays.",
  positionals: [{ name: "name" }],
  flags: {},
  outputs: RECORD_OUTPUTS,
  examples: ["baton schedules trigger nightly-report"],
  async run({ args, url, document, out }) {
    const response = await connect(url).schedules.triggerSchedule({ name: args[0]! });
    if (document) out.message(document, TriggerScheduleResponseSchema, response);
    else out.print(`triggered schedule ${args[0]!}: job ${response.job!.id}`);
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

export const scheduleCommands: Command[] = [createCommand, list, update, pause, resume, trigger, deleteCommand];
