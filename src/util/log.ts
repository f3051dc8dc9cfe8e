/**
 * JSON logs, one object per line on stderr, so log shippers need no parsing rules; written by
 * pino. The level threshold comes from BATON_LOG_LEVEL (debug, info, warn, error; default info).
 * Each line has `time` (ISO 8601), `level` (its name), `msg`, the logger's bound fields and the
 * call's; an `error` field keeps its type, message, stack, own properties (a code) and its
 * cause, recursively; inside a traced request (an active OpenTelemetry span) the line carries
 * `trace_id` and `span_id`, so it can be found from the trace and the other way round.
 */
import { context, isSpanContextValid, trace } from "@opentelemetry/api";
import pino from "pino";
import { DatabaseUnreachableError } from "../errors.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
  /** False when debug lines are dropped: per-job bookkeeping for them can be skipped. */
  readonly debugEnabled: boolean;
}

/** BATON_LOG_LEVEL, checked: a typo must not silently log at another level. */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): LogLevel {
  const value = env.BATON_LOG_LEVEL;
  if (value === undefined || value === "") return "info";
  if (!(LEVELS as readonly string[]).includes(value)) throw new Error(`BATON_LOG_LEVEL must be debug, info, warn or error, got "${value}"`);
  return value as LogLevel;
}

/**
 * A logger writing to `destination` (stderr by default, synchronously, so the lines written
 * just before an exit are not lost).
 */
export function createLogger(
  base: Record<string, unknown> = {},
  threshold: LogLevel = logLevelFromEnv(),
  destination: pino.DestinationStream = pino.destination({ fd: 2, sync: true }),
): Logger {
  const root = pino(
    {
      level: threshold,
      // No pid and hostname: the platform's log collector knows them.
      base: null,
      messageKey: "msg",
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { error: pino.stdSerializers.errWithCause },
      mixin: traceFields,
    },
    destination,
  );
  return wrap(Object.keys(base).length > 0 ? root.child(base) : root);
}

function wrap(logger: pino.Logger): Logger {
  const write = (level: LogLevel, message: string, fields?: Record<string, unknown>) => {
    // Already reported once, as the outage it belongs to; see DatabaseUnreachableError.
    if (fields?.error instanceof DatabaseUnreachableError) level = "debug";
    logger[level](fields ?? {}, message);
  };
  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    child: (fields) => wrap(logger.child(fields)),
    debugEnabled: logger.isLevelEnabled("debug"),
  };
}

/** The ids of the span active where the line is logged (a traced RPC), if any. */
function traceFields(): Record<string, string> {
  const span = trace.getSpanContext(context.active());
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : {};
}
