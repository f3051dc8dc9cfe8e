import { CronExpressionParser } from "cron-parser";
import { invalidArgument } from "../errors.js";

/** Aliases for common expressions, as in Vixie cron (`@reboot` means nothing to a broker). */
const ALIASES = new Set(["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"]);
/** The longest expression parsed, in characters after trimming (ASCII in every valid one). */
export const MAX_EXPRESSION_LENGTH = 256;

/** A cron expression read in one IANA time zone; every instant it yields is a fire time. */
export interface Cron {
  readonly expression: string;
  readonly timeZone: string;
  /** The first fire time strictly after `after`. */
  nextAfter(after: Date): Date;
  /** The latest fire time at or before `at`, or undefined if there is none. */
  latestAtOrBefore(at: Date): Date | undefined;
}

/** How errors name the two inputs, e.g. "schedule.cron". */
export interface FieldNames {
  cron: string;
  timeZone: string;
}

/**
 * Parses `expression` for `timeZone`, or throws INVALID_ARGUMENT saying what is wrong.
 *
 * Accepted: five fields (minute hour day-of-month month day-of-week), six fields (a leading
 * seconds field), or one of the aliases above. Day-of-week takes 0-7 (0 and 7 are Sunday) and
 * names (MON-FRI); `L` (last day of month), `#` (nth weekday) and `?` (same as `*`) work too;
 * `H` (a value the parser picks at random) is refused. Fields are local wall-clock time in
 * `timeZone`: across a DST change a daily schedule fires once per local day (a local time the
 * change skips fires as much later as the clocks jumped, 02:30 becoming 03:30; a repeated one
 * fires at its first occurrence only), while sub-hourly schedules follow elapsed time.
 */
export function parseCron(expression: string, timeZone: string, fields: FieldNames = { cron: "cron", timeZone: "time_zone" }): Cron {
  const field = fields.cron;
  const text = expression.trim();
  if (text === "") throw invalidArgument(`${field} must not be empty`);
  if (text.length > MAX_EXPRESSION_LENGTH) throw invalidArgument(`${field} is longer than ${MAX_EXPRESSION_LENGTH} characters`);
  const parts = text.split(/\s+/);
  if (text.startsWith("@")) {
    if (parts.length !== 1 || !ALIASES.has(text.toLowerCase())) {
      throw invalidArgument(`${field} "${text}" is not a known alias: use one of ${[...ALIASES].join(", ")}`);
    }
  } else if (parts.length !== 5 && parts.length !== 6) {
    // The parser would quietly pad a short expression with "*"; a typo must not run every minute.
    throw invalidArgument(
      `${field} "${text}" has ${parts.length} fields: use 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)`,
    );
  } else if (parts.some((part) => part.replace(/THU/gi, "").includes("H"))) {
    // Each nextAfter() parses again, so a random value would move the schedule on every fire.
    throw invalidArgument(`${field} "${text}" uses H, a value picked at random: write the value itself (e.g. 17, not H)`);
  }
  // Parsing does not check the zone (a bad one fails only when a time is computed), so check it
  // here with the runtime's own zone database, the one the parser reads too.
  validateTimeZone(timeZone, fields.timeZone);
  const source = text.startsWith("@") ? text.toLowerCase() : text;
  const iterate = (currentDate: Date) => CronExpressionParser.parse(source, { currentDate, tz: timeZone });
  let first: ReturnType<typeof iterate>;
  try {
    first = iterate(new Date());
  } catch (error) {
    throw invalidArgument(`${field} "${text}" is invalid: ${(error as Error).message}`);
  }
  // Surfaces expressions that parse but can never fire (the parser gives up looking).
  try {
    first.next();
  } catch (error) {
    throw invalidArgument(`${field} "${text}" never fires: ${(error as Error).message}`);
  }
  return {
    expression: text,
    timeZone,
    nextAfter(after) {
      // The parser drops milliseconds and then steps at least one second, so this is strictly after.
      return iterate(after).next().toDate();
    },
    latestAtOrBefore(at) {
      // prev() is strictly before its start, which it truncates to the second: start 1 ms later
      // so that a fire time exactly at `at` counts.
      try {
        return iterate(new Date(at.getTime() + 1)).prev().toDate();
      } catch {
        return undefined;
      }
    },
  };
}

/** Throws INVALID_ARGUMENT unless `timeZone` names an IANA zone (case-insensitive, e.g. "Europe/Paris", "UTC"). */
export function validateTimeZone(timeZone: string, field = "time_zone"): void {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    throw invalidArgument(`${field} "${timeZone.slice(0, 80)}" is not an IANA time zone (e.g. "UTC", "Europe/Paris", "America/New_York")`);
  }
}
