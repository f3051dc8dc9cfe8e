/**
 * JSON logs, one object per line on stderr, so log shippers need no parsing rules.
 * The level threshold comes from BATON_LOG_LEVEL (debug, info, warn, error; default info).
 */
import { DatabaseUnreachableError } from "../errors.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

const levels: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  /** False when debug lines are dropped: per-job bookkeeping for them can be skipped. */
  readonly debugEnabled: boolean;
}

export function createLogger(
  base: Record<string, unknown> = {},
  threshold: LogLevel = (process.env.BATON_LOG_LEVEL as LogLevel | undefined) ?? "info",
): Logger {
  const write = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    // Already reported once, as the outage it belongs to; see DatabaseUnreachableError.
    if (fields?.error instanceof DatabaseUnreachableError) level = "debug";
    if (levels[level] < (levels[threshold] ?? levels.info)) return;
    const line = { time: new Date().toISOString(), level, msg: message, ...base, ...fields };
    process.stderr.write(JSON.stringify(line, errorReplacer) + "\n");
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => createLogger({ ...base, ...fields }, threshold),
    debugEnabled: levels.debug >= (levels[threshold] ?? levels.info),
  };
}

function errorReplacer(_key: string, value: unknown) {
  if (!(value instanceof Error)) return value;
  // A client-facing error keeps the driver's reason (a timeout, a reset) as its cause.
  const cause = value.cause instanceof Error ? value.cause.message : undefined;
  return { name: value.name, message: value.message, ...(cause !== undefined && { cause }) };
}
