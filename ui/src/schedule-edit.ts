// A schedule's definition as the schedules page edits it, turned into UpdateSchedule's schedule
// and update_mask. Payload and headers stay with the CLI and the RPC: bytes and maps are no
// form fields. Pure, so the browser test can check it without a page.
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { OverlapPolicy, type Schedule, ScheduleSchema } from "../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { parseNumberInput } from "./number-input.js";

export interface ScheduleField {
  /** UpdateSchedule's update_mask path, and the form input's name. */
  path: "queue" | "cron" | "time_zone" | "priority" | "max_attempts" | "catchup_window" | "overlap_policy";
  label: string;
  /** What an empty input means, shown as its placeholder. */
  empty: string;
  unit?: string;
}

export const SCHEDULE_FIELDS: readonly ScheduleField[] = [
  { path: "queue", label: "queue", empty: "" },
  { path: "cron", label: "cron", empty: "" },
  { path: "time_zone", label: "time zone", empty: "UTC" },
  { path: "priority", label: "priority", empty: "0" },
  { path: "max_attempts", label: "max attempts", empty: "queue default" },
  { path: "catchup_window", label: "catch-up window", empty: "latest only", unit: "seconds" },
  { path: "overlap_policy", label: "overlap", empty: "" },
];

/** The overlap select's values. */
export const OVERLAP_CHOICES = [
  { value: "allow", policy: OverlapPolicy.ALLOW, text: "allow" },
  { value: "skip", policy: OverlapPolicy.SKIP, text: "skip while running" },
] as const;

/** The form's inputs as they start for `schedule`. */
export function scheduleInputs(schedule: Schedule): Record<ScheduleField["path"], string> {
  const window = schedule.catchupWindow ? durationMs(schedule.catchupWindow) / 1000 : 0;
  return {
    queue: schedule.queue,
    cron: schedule.cron,
    time_zone: schedule.timeZone,
    priority: String(schedule.priority),
    max_attempts: schedule.maxAttempts === 0 ? "" : String(schedule.maxAttempts),
    catchup_window: window === 0 ? "" : String(window),
    overlap_policy: schedule.overlapPolicy === OverlapPolicy.SKIP ? "skip" : "allow",
  };
}

export type ScheduleUpdate = { schedule: Schedule; paths: string[] } | { error: string };

/**
 * UpdateSchedule's request for the form's inputs, naming only the fields whose input changed
 * from `base` (the schedule when editing began). An empty input resets its field.
 */
export function scheduleUpdate(base: Schedule, inputs: Readonly<Record<string, string>>): ScheduleUpdate {
  const schedule = create(ScheduleSchema, { name: base.name });
  const before = scheduleInputs(base);
  const paths: string[] = [];
  for (const field of SCHEDULE_FIELDS) {
    const text = (inputs[field.path] ?? "").trim();
    if (text === before[field.path]) continue;
    paths.push(field.path);
    if (text === "") continue;
    switch (field.path) {
      case "queue":
        schedule.queue = text;
        break;
      case "cron":
        schedule.cron = text;
        break;
      case "time_zone":
        schedule.timeZone = text;
        break;
      case "overlap_policy":
        schedule.overlapPolicy = OVERLAP_CHOICES.find((c) => c.value === text)?.policy ?? OverlapPolicy.UNSPECIFIED;
        break;
      default: {
        const parsed = parseNumberInput(field.label, text, field.path !== "catchup_window");
        if ("error" in parsed) return parsed;
        if (field.path === "priority") schedule.priority = parsed.value;
        else if (field.path === "max_attempts") schedule.maxAttempts = parsed.value;
        else schedule.catchupWindow = durationFromMs(Math.round(parsed.value * 1000));
      }
    }
  }
  return { schedule, paths };
}
