/**
 * Cron expressions as the scheduler reads them (src/util/cron.ts over cron-parser): which
 * instants fire, at chosen instants around DST changes, and the refusals with their messages.
 * The scheduler's use of them against PostgreSQL is in schedules.test.ts.
 */
import { describe, expect, test } from "vitest";
import { MAX_EXPRESSION_LENGTH, parseCron } from "../src/util/cron.js";

const at = (iso: string) => new Date(iso);
const iso = (date: Date | undefined) => date?.toISOString();

/** The first `count` fire times after `after`, each found from the one before. */
function fireTimesAfter(expression: string, timeZone: string, after: string, count: number): string[] {
  const cron = parseCron(expression, timeZone);
  const times: string[] = [];
  for (let last = at(after); times.length < count; ) {
    last = cron.nextAfter(last);
    times.push(last.toISOString());
  }
  return times;
}

describe("fire times", () => {
  test("nextAfter is strictly after its argument; latestAtOrBefore counts a fire time exactly at it", () => {
    const hourly = parseCron("0 * * * *", "UTC");
    expect(iso(hourly.nextAfter(at("2026-06-01T10:00:00.000Z")))).toBe("2026-06-01T11:00:00.000Z");
    expect(iso(hourly.nextAfter(at("2026-06-01T10:00:00.500Z")))).toBe("2026-06-01T11:00:00.000Z");
    expect(iso(hourly.latestAtOrBefore(at("2026-06-01T10:00:00.000Z")))).toBe("2026-06-01T10:00:00.000Z");
    expect(iso(hourly.latestAtOrBefore(at("2026-06-01T10:59:59.999Z")))).toBe("2026-06-01T10:00:00.000Z");
    expect(iso(hourly.latestAtOrBefore(at("2026-06-01T09:59:59.999Z")))).toBe("2026-06-01T09:00:00.000Z");
    expect(fireTimesAfter("* * * * * *", "UTC", "2026-06-01T10:00:00.300Z", 2)).toEqual(["2026-06-01T10:00:01.000Z", "2026-06-01T10:00:02.000Z"]);
  });

  test.each([
    ["0 9 * * MON-FRI", "UTC", "2026-06-06T00:00:00Z", "2026-06-08T09:00:00.000Z"], // Saturday, so Monday
    ["0 9 * * 7", "UTC", "2026-06-01T00:00:00Z", "2026-06-07T09:00:00.000Z"], // 7 is Sunday
    ["0 0 * * THU", "UTC", "2026-01-01T00:00:00Z", "2026-01-08T00:00:00.000Z"], // the H of THU is a name's
    ["0 0 L * *", "UTC", "2026-02-10T00:00:00Z", "2026-02-28T00:00:00.000Z"],
    ["0 9 * * 1#2", "UTC", "2026-06-01T00:00:00Z", "2026-06-08T09:00:00.000Z"],
    ["0 0 1 JAN *", "UTC", "2026-06-01T00:00:00Z", "2027-01-01T00:00:00.000Z"],
    ["? * * * *", "UTC", "2026-06-01T00:00:00Z", "2026-06-01T00:01:00.000Z"],
    ["*/10 * * * * *", "UTC", "2026-06-01T00:00:00Z", "2026-06-01T00:00:10.000Z"],
    ["@DAILY", "Asia/Tokyo", "2026-06-06T05:00:00Z", "2026-06-06T15:00:00.000Z"],
    ["  0 12 * * *  ", "America/New_York", "2026-06-06T05:00:00Z", "2026-06-06T16:00:00.000Z"],
  ])("%j in %s fires after %s at %s", (expression, timeZone, after, expected) => {
    expect(iso(parseCron(expression, timeZone).nextAfter(at(after)))).toBe(expected);
  });
});

// Europe/Paris in 2026: 02:00 CET becomes 03:00 CEST on 29 March (01:00 UTC); 03:00 CEST
// becomes 02:00 CET on 25 October (01:00 UTC), so 02:00-02:59 happens twice that night.
describe("across DST changes", () => {
  test("a daily local time the spring change skips fires as much later as the clocks jumped", () => {
    expect(fireTimesAfter("30 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", 2)).toEqual([
      "2026-03-29T01:30:00.000Z", // 03:30 CEST
      "2026-03-30T00:30:00.000Z", // 02:30 CEST
    ]);
    expect(fireTimesAfter("0 2 * * *", "Europe/Paris", "2026-03-28T12:00:00Z", 1)).toEqual(["2026-03-29T01:00:00.000Z"]);
  });

  test("a daily local time the autumn change repeats fires once, at its first occurrence, whichever way it is looked up", () => {
    const cron = parseCron("30 2 * * *", "Europe/Paris");
    expect(fireTimesAfter("30 2 * * *", "Europe/Paris", "2026-10-24T12:00:00Z", 2)).toEqual([
      "2026-10-25T00:30:00.000Z", // 02:30 CEST
      "2026-10-26T01:30:00.000Z", // 02:30 CET the next day: the second 02:30 of the 25th never fires
    ]);
    // After the second 02:30 has passed, the latest fire time is still the first one, the
    // fire time (and dedup key) the scheduler fired for.
    expect(iso(cron.latestAtOrBefore(at("2026-10-25T02:00:00Z")))).toBe("2026-10-25T00:30:00.000Z");
  });

  test("a sub-hourly schedule follows elapsed time through both changes", () => {
    expect(fireTimesAfter("*/15 * * * *", "Europe/Paris", "2026-03-29T00:30:00Z", 3)).toEqual([
      "2026-03-29T00:45:00.000Z",
      "2026-03-29T01:00:00.000Z",
      "2026-03-29T01:15:00.000Z",
    ]);
    expect(fireTimesAfter("*/15 * * * *", "Europe/Paris", "2026-10-25T00:30:00Z", 5)).toEqual([
      "2026-10-25T00:45:00.000Z",
      "2026-10-25T01:00:00.000Z",
      "2026-10-25T01:15:00.000Z",
      "2026-10-25T01:30:00.000Z",
      "2026-10-25T01:45:00.000Z",
    ]);
  });
});

describe("refusals", () => {
  test.each([
    ["", "UTC", 'cron must not be empty'],
    ["   ", "UTC", "cron must not be empty"],
    ["*".repeat(MAX_EXPRESSION_LENGTH + 1), "UTC", `is longer than ${MAX_EXPRESSION_LENGTH} characters`],
    ["* * * *", "UTC", 'cron "* * * *" has 4 fields: use 5'],
    ["0 0 0 1 1 * 2026", "UTC", 'cron "0 0 0 1 1 * 2026" has 7 fields'],
    ["@reboot", "UTC", 'cron "@reboot" is not a known alias: use one of @yearly'],
    ["@minutely", "UTC", 'cron "@minutely" is not a known alias'],
    ["@daily 0", "UTC", 'cron "@daily 0" is not a known alias'],
    ["H 2 * * *", "UTC", 'cron "H 2 * * *" uses H, a value picked at random: write the value itself'],
    ["0 H/5 * * *", "UTC", 'cron "0 H/5 * * *" uses H'],
    ["0 0 * * H#3", "UTC", 'cron "0 0 * * H#3" uses H'],
    ["61 * * * *", "UTC", 'cron "61 * * * *" is invalid: Constraint error, got value 61 expected range 0-59'],
    ["0 0 31 2 *", "UTC", 'cron "0 0 31 2 *" is invalid: Invalid explicit day of month definition'],
    ["0 0 * * MON#6", "UTC", 'cron "0 0 * * MON#6" is invalid'],
    ["* * * * *", "Mars/Olympus_Mons", 'time_zone "Mars/Olympus_Mons" is not an IANA time zone'],
  ])("%j in %j: %s", (expression, timeZone, message) => {
    expect(() => parseCron(expression, timeZone)).toThrow(message);
  });

  test("errors name the fields as the caller does", () => {
    const fields = { cron: "schedule.cron", timeZone: "schedule.time_zone" };
    expect(() => parseCron("* * * *", "UTC", fields)).toThrow('schedule.cron "* * * *" has 4 fields');
    expect(() => parseCron("* * * * *", "Nowhere", fields)).toThrow('schedule.time_zone "Nowhere" is not an IANA time zone');
  });
});
