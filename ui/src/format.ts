// Pure helpers that turn API messages into text for people.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Job, JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";

/** The states in lifecycle order, for filters, count columns and legends. */
export const STATES: readonly JobState[] = [
  JobState.SCHEDULED,
  JobState.BLOCKED,
  JobState.AVAILABLE,
  JobState.LEASED,
  JobState.SUCCEEDED,
  JobState.DEAD,
  JobState.CANCELLED,
];

/** "SUCCEEDED" for JobState.SUCCEEDED: the names the API and the CLI use. */
export function stateName(state: JobState): string {
  return JobState[state] ?? String(state);
}

export function parseState(name: string | null): JobState {
  const state = name ? (JobState as unknown as Record<string, JobState | undefined>)[name.toUpperCase()] : undefined;
  return typeof state === "number" ? state : JobState.UNSPECIFIED;
}

/** A retry waiting out its backoff is SCHEDULED with attempt > 0: say so. */
export function stateLabel(job: Pick<Job, "state" | "attempt" | "cancelRequested">): string {
  if (job.state === JobState.SCHEDULED && job.attempt > 0) return "RETRYING";
  if (job.state === JobState.LEASED && job.cancelRequested) return "CANCELLING";
  return stateName(job.state);
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Bytes as text: JSON pretty-printed, UTF-8 as is, anything else as hex. */
export function formatBytes(bytes: Uint8Array): { text: string; kind: "empty" | "json" | "text" | "binary" } {
  if (bytes.length === 0) return { text: "", kind: "empty" };
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    const hex = Array.from(bytes.subarray(0, 4096), (b) => b.toString(16).padStart(2, "0")).join(" ");
    return { text: bytes.length > 4096 ? `${hex} … (${bytes.length} bytes)` : hex, kind: "binary" };
  }
  const trimmed = text.trim();
  if (trimmed.startsWith("{") || trimmed.startsWith("[") || trimmed.startsWith('"')) {
    try {
      return { text: JSON.stringify(JSON.parse(trimmed), null, 2), kind: "json" };
    } catch {
      // Not JSON after all: shown as text.
    }
  }
  return { text, kind: "text" };
}

/** A short preview of a payload for tables. */
export function previewBytes(bytes: Uint8Array, max = 60): string {
  const { text, kind } = formatBytes(bytes);
  const flat = kind === "json" ? JSON.stringify(JSON.parse(text)) : text.replace(/\s+/g, " ");
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function toMs(ts: Timestamp | undefined): number | undefined {
  return ts ? timestampMs(ts) : undefined;
}

export function formatTime(ts: Timestamp | undefined): string {
  const ms = toMs(ts);
  if (ms === undefined) return "—";
  return new Date(ms).toLocaleString(undefined, { hour12: false });
}

/** "3s ago", "in 5m": relative to `now`. */
export function formatRelative(ts: Timestamp | undefined, now = Date.now()): string {
  const ms = toMs(ts);
  if (ms === undefined) return "—";
  const delta = ms - now;
  const text = formatDurationMs(Math.abs(delta));
  return delta > 0 ? `in ${text}` : `${text} ago`;
}

export function formatDurationMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)}s`;
  const m = s / 60;
  if (m < 60) return `${Math.floor(m)}m${Math.round(s % 60)}s`;
  const h = m / 60;
  if (h < 48) return `${Math.floor(h)}h${Math.round(m % 60)}m`;
  return `${Math.round(h / 24)}d`;
}

/** Labels (a worker's, or a job's worker_labels) as "gpu=a100, region=eu", by key; "" for none. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key}=${value}`)
    .join(", ");
}

/** The W3C trace id carried by a `traceparent` header, if any. */
export function traceIdOf(headers: Record<string, string>): string | undefined {
  const value = headers["traceparent"];
  const match = value ? /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/.exec(value.trim()) : null;
  return match?.[1];
}

/**
 * Fills a trace URL template. One trace per chain, so {chainId} is always known; {traceId}
 * only when the chain's root job was enqueued with a `traceparent` header (the Job message
 * carries no trace id). A template whose placeholders cannot all be filled gives no link.
 */
export function traceUrl(template: string, values: { chainId: string; jobId: string; queue: string; traceId?: string }): string | undefined {
  if (template === "") return undefined;
  let missing = false;
  const url = template.replace(/\{(chainId|jobId|queue|traceId)\}/g, (_, key: keyof typeof values) => {
    const value = values[key];
    if (value === undefined || value === "") missing = true;
    return encodeURIComponent(value ?? "");
  });
  return missing ? undefined : url;
}

/**
 * A datetime-local input's value ("2026-12-07T10:30", the browser's local time) as an ISO
 * instant for the URL, so that a link means the same moment in every time zone; "" when empty.
 */
export function isoFromLocalInput(text: string): string {
  const ms = text === "" ? NaN : new Date(text).getTime();
  return Number.isNaN(ms) ? "" : new Date(ms).toISOString();
}

/** An ISO instant as a datetime-local input's value, in local time, to the minute; "" when empty or invalid. */
export function localInputFromIso(iso: string): string {
  const date = new Date(iso);
  if (iso === "" || Number.isNaN(date.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}
