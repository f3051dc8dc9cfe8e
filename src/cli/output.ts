import { type DescMessage, type MessageShape, toJson } from "@bufbuild/protobuf";
import { type Duration, type Timestamp, durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { type Job, JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { stringify as yamlStringify } from "yaml";
import { formatDuration } from "./duration.js";

/** How `-o` may print a command's result instead of its table or record. */
export type OutputFormat = "json" | "yaml" | "wide";
/** The formats that print a document rather than text. */
export type DocumentFormat = Exclude<OutputFormat, "wide">;

/**
 * Where a command writes: results on stdout (a table for people, or one JSON or YAML document
 * for scripts), progress and notes on stderr so that a pipe only ever sees the result.
 */
export interface Output {
  /** Writes one protobuf message as a document of its JSON form: every field, defaults included. */
  message<Desc extends DescMessage>(format: DocumentFormat, schema: Desc, message: MessageShape<Desc>): void;
  /** Writes a plain value as one JSON or YAML document. */
  document(format: DocumentFormat, value: unknown): void;
  /** Writes text; a missing final newline is added. */
  print(text: string): void;
  /** A remark for people (e.g. "no jobs"), on stderr. */
  note(text: string): void;
  /** A progress line for long operations, on stderr; on a terminal it rewrites itself. */
  progress(text: string): void;
  /** Ends the progress line. */
  endProgress(): void;
  /** Resolves once everything written has reached the file descriptors. */
  flush(): Promise<void>;
}

export function createOutput(stdout: NodeJS.WriteStream = process.stdout, stderr: NodeJS.WriteStream = process.stderr): Output {
  const live = stderr.isTTY === true;
  let lastProgress: string | undefined;
  const endProgress = () => {
    if (live && lastProgress !== undefined) stderr.write("\r\x1b[K");
    lastProgress = undefined;
  };
  const document = (format: DocumentFormat, value: unknown) => {
    endProgress();
    stdout.write(format === "yaml" ? yamlStringify(value) : `${JSON.stringify(value, null, 2)}\n`);
  };
  return {
    message(format, schema, message) {
      document(format, toJson(schema, message, { alwaysEmitImplicit: true }));
    },
    document,
    print(text) {
      endProgress();
      stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    },
    note(text) {
      endProgress();
      stderr.write(`${text}\n`);
    },
    progress(text) {
      if (text === lastProgress) return;
      lastProgress = text;
      stderr.write(live ? `\r\x1b[K${text}` : `${text}\n`);
    },
    endProgress,
    flush: () =>
      Promise.all([stdout, stderr].map((s) => new Promise<void>((resolve) => s.write("", () => resolve())))).then(() => undefined),
  };
}

export interface Column {
  header: string;
  /** Numbers read better right-aligned. */
  align?: "right";
}

/** Columns padded to their widest cell, two spaces apart, no trailing blanks. */
export function table(columns: (Column | string)[], rows: string[][]): string {
  const cols = columns.map((c) => (typeof c === "string" ? { header: c } : c));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (cols[i]!.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(cols.map((c) => c.header)), ...rows.map(line)].join("\n");
}

/** A record as aligned `key  value` lines; continuation lines of a value stay in its column. */
export function details(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([key]) => key.length)) + 2;
  return rows
    .map(([key, value]) => `${key.padEnd(width)}${value.split("\n").join(`\n${" ".repeat(width)}`)}`.trimEnd())
    .join("\n");
}

/** `AVAILABLE`, not `JOB_STATE_AVAILABLE`. */
export function stateName(state: JobState): string {
  return JobState[state] ?? String(state);
}

/** The state with what a bare name hides: a retry waiting out its backoff, a pending cancel. */
export function jobStateLabel(job: Job): string {
  const name = stateName(job.state);
  if (job.state === JobState.LEASED && job.cancelRequested) return `${name} (cancelling)`;
  if (job.state === JobState.SCHEDULED && job.attempt > 0) return `${name} (retry)`;
  return name;
}

/** "12s ago", "in 3m", "-" when unset. */
export function relativeTime(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "-";
  const delta = timestampMs(ts) - now;
  if (Math.abs(delta) < 1000) return "now";
  const text = formatDuration(Math.abs(delta)).replace(/^(\d+[a-z]+)\d.*$/, "$1");
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

/** ISO time with its relative form: "2030-01-31T09:00:00.000Z (in 3d)". */
export function fullTime(ts: Timestamp | undefined, now = Date.now()): string {
  if (!ts) return "-";
  return `${new Date(timestampMs(ts)).toISOString()} (${relativeTime(ts, now)})`;
}

export function durationText(duration: Duration | undefined, unset = "-"): string {
  return duration ? formatDuration(durationMs(duration)) : unset;
}

const MAX_SHOWN_BYTES = 4096;

/** Payloads and results: pretty JSON, else UTF-8 text, else a byte count. */
export function bytesText(bytes: Uint8Array): string {
  if (bytes.byteLength === 0) return "-";
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return `<${bytes.byteLength} bytes of binary data; --json shows them as base64>`;
  }
  // Control characters other than whitespace would garble a terminal.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000e-\u001f\u007f]/.test(text)) {
    return `<${bytes.byteLength} bytes of binary data; --json shows them as base64>`;
  }
  try {
    text = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // Not JSON: shown as text.
  }
  if (text.length > MAX_SHOWN_BYTES) {
    return `${text.slice(0, MAX_SHOWN_BYTES)}\n… (${bytes.byteLength} bytes in all; --json shows everything)`;
  }
  return text;
}

/** One line of at most `max` characters. */
export function oneLine(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function mapText(map: Record<string, string>): string {
  const entries = Object.entries(map);
  return entries.length === 0 ? "-" : entries.map(([k, v]) => `${k}=${v}`).join("\n");
}

export function orDash(text: string): string {
  return text === "" ? "-" : text;
}
