// A queue's settings as the queue page shows and edits them: one list drives both the table and
// the form, and turns the form into UpdateQueue's config and update_mask. Pure, so the browser
// test can check the parsing without a page.
import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs } from "@bufbuild/protobuf/wkt";
import { type QueueConfig, QueueConfigSchema } from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { formatDurationMs } from "./format.js";
import { parseNumberInput } from "./number-input.js";

export interface QueueSetting {
  /** UpdateQueue's update_mask path, and the form input's name. */
  path: string;
  field:
    | "maxAttempts"
    | "leaseDuration"
    | "retryBaseDelay"
    | "retryMaxDelay"
    | "defaultTimeout"
    | "succeededRetention"
    | "deadRetention"
    | "cancelledRetention"
    | "concurrencyLimit"
    | "rateLimit"
    | "fairnessConcurrencyLimit"
    | "fairnessRateLimit";
  label: string;
  /** A whole number, jobs per second, or a duration typed in seconds. */
  kind: "int" | "rate" | "seconds";
  /** What an unset (zero) value means. */
  unset: "broker default" | "none";
}

/** Every setting, under its current name (fairness_key_limit is the old name of fairness_concurrency_limit). */
export const QUEUE_SETTINGS: readonly QueueSetting[] = [
  { path: "max_attempts", field: "maxAttempts", label: "max attempts", kind: "int", unset: "broker default" },
  { path: "lease_duration", field: "leaseDuration", label: "lease", kind: "seconds", unset: "broker default" },
  { path: "retry_base_delay", field: "retryBaseDelay", label: "retry base delay", kind: "seconds", unset: "broker default" },
  { path: "retry_max_delay", field: "retryMaxDelay", label: "retry max delay", kind: "seconds", unset: "broker default" },
  { path: "default_timeout", field: "defaultTimeout", label: "default timeout", kind: "seconds", unset: "none" },
  { path: "succeeded_retention", field: "succeededRetention", label: "succeeded retention", kind: "seconds", unset: "broker default" },
  { path: "dead_retention", field: "deadRetention", label: "dead retention", kind: "seconds", unset: "broker default" },
  { path: "cancelled_retention", field: "cancelledRetention", label: "cancelled retention", kind: "seconds", unset: "broker default" },
  { path: "concurrency_limit", field: "concurrencyLimit", label: "concurrency limit", kind: "int", unset: "none" },
  { path: "rate_limit", field: "rateLimit", label: "rate limit", kind: "rate", unset: "none" },
  { path: "fairness_concurrency_limit", field: "fairnessConcurrencyLimit", label: "fairness concurrency limit", kind: "int", unset: "none" },
  { path: "fairness_rate_limit", field: "fairnessRateLimit", label: "fairness rate limit", kind: "rate", unset: "none" },
];

/** The setting's value as a number: seconds for durations, 0 when unset. */
function valueOf(config: QueueConfig, setting: QueueSetting): number {
  const value = config[setting.field];
  if (typeof value === "number") return value;
  return value ? durationMs(value) / 1000 : 0;
}

/** The setting as the table shows it: "5", "2/s", "30s", or what unset means. */
export function settingText(config: QueueConfig, setting: QueueSetting): string {
  const value = valueOf(config, setting);
  if (value === 0) return setting.unset;
  if (setting.kind === "seconds") return formatDurationMs(value * 1000);
  return setting.kind === "rate" ? `${value}/s` : String(value);
}

/** The setting as the form's input starts: empty when unset. */
export function settingInput(config: QueueConfig, setting: QueueSetting): string {
  const value = valueOf(config, setting);
  return value === 0 ? "" : String(value);
}

export type QueueUpdate = { config: QueueConfig; paths: string[] } | { error: string };

/**
 * UpdateQueue's config and update_mask for the form's inputs, naming only the settings whose
 * input changed, so that a save never rewrites what someone else changed meanwhile. An empty
 * input resets its setting.
 */
export function queueUpdate(current: QueueConfig, inputs: Readonly<Record<string, string>>): QueueUpdate {
  const config = create(QueueConfigSchema);
  const paths: string[] = [];
  for (const setting of QUEUE_SETTINGS) {
    const text = (inputs[setting.path] ?? "").trim();
    if (text === settingInput(current, setting)) continue;
    paths.push(setting.path);
    if (text === "") continue;
    const parsed = parseNumberInput(setting.label, text, setting.kind === "int");
    if ("error" in parsed) return parsed;
    const target = config as unknown as Record<string, unknown>;
    target[setting.field] = setting.kind === "seconds" ? durationFromMs(Math.round(parsed.value * 1000)) : parsed.value;
  }
  return { config, paths };
}
