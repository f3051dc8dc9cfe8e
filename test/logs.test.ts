/**
 * The JSON log lines: errors with their stack and cause, the trace and span ids of the request
 * they were logged in, a checked BATON_LOG_LEVEL, and an error nothing caught logged before a
 * clean stop.
 */
import { context, trace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { afterAll, expect, test } from "vitest";
import { DatabaseUnreachableError } from "../src/errors.js";
import { type LogLevel, createLogger, logLevelFromEnv } from "../src/util/log.js";
import { createTestDatabase } from "./helpers/database.js";
import { type TestProcess, spawnProcess } from "./helpers/process.js";

const processes: TestProcess[] = [];
afterAll(() => {
  for (const child of processes) child.killGroup("SIGKILL");
});

/** A logger whose lines land in the returned array, parsed. */
function capture(level: LogLevel = "debug", base: Record<string, unknown> = {}) {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger(base, level, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

test("a line has the time, the level's name, the message and the fields, the child's bound ones first", () => {
  const { log, lines } = capture("info", { service: "baton" });
  log.child({ component: "reaper" }).info("expired leases", { jobs: 3 });
  log.debug("dropped below the threshold");
  expect(lines).toEqual([{ time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/), level: "info", service: "baton", component: "reaper", jobs: 3, msg: "expired leases" }]);
  expect(log.debugEnabled).toBe(false);
  expect(capture("debug").log.debugEnabled).toBe(true);
});

test("an error keeps its type, stack, code and cause", () => {
  const { log, lines } = capture();
  const root = Object.assign(new Error("connection reset"), { code: "ECONNRESET" });
  log.error("settling failed", { error: new Error("write failed", { cause: root }) });
  const error = lines[0]!.error as Record<string, unknown>;
  expect(error).toMatchObject({ type: "Error", message: "write failed", stack: expect.stringContaining("logs.test.ts") });
  expect(error.cause).toMatchObject({ type: "Error", message: "connection reset", code: "ECONNRESET", stack: expect.stringContaining("Error: connection reset") });
});

test("an unreachable database is logged at debug: its outage was reported once already", () => {
  const { log, lines } = capture("info");
  log.warn("lease renewal failed", { error: new DatabaseUnreachableError(1000) });
  expect(lines).toEqual([]);
});

test("a line logged inside a traced request carries its trace_id and span_id; one outside carries none", () => {
  // What the OpenTelemetry SDK sets up, and the RPC interceptor's span made active.
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  try {
    const { log, lines } = capture();
    const span = trace.wrapSpanContext({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", traceFlags: 1 });
    context.with(trace.setSpan(context.active(), span), () => log.info("inside"));
    log.info("outside");
    expect(lines[0]).toMatchObject({ msg: "inside", trace_id: "4bf92f3577b34da6a3ce929d0e0e4736", span_id: "00f067aa0ba902b7" });
    expect(lines[1]).not.toHaveProperty("trace_id");
    expect(lines[1]).not.toHaveProperty("span_id");
  } finally {
    context.disable();
  }
});

test("BATON_LOG_LEVEL takes debug, info, warn or error, and refuses anything else by name", () => {
  expect(logLevelFromEnv({})).toBe("info");
  expect(logLevelFromEnv({ BATON_LOG_LEVEL: "warn" })).toBe("warn");
  expect(() => logLevelFromEnv({ BATON_LOG_LEVEL: "verbose" })).toThrow('BATON_LOG_LEVEL must be debug, info, warn or error, got "verbose"');
  expect(() => logLevelFromEnv({ BATON_LOG_LEVEL: "INFO" })).toThrow(/BATON_LOG_LEVEL must be/);
});

test("an unhandled promise rejection in baton serve is logged with its stack and cause, and the broker stops cleanly with a failure", async () => {
  const env = { BATON_DATABASE_URL: await createTestDatabase(), BATON_HOST: "127.0.0.1", BATON_PORT: "0", BATON_LOG_LEVEL: "info", BATON_AUTH: "off" };
  const preload = new URL("./fixtures/reject-on-signal.ts", import.meta.url).pathname;
  const child = spawnProcess(process.execPath, ["--import", "tsx", "--import", preload, "src/cli/main.ts", "serve"], env);
  processes.push(child);
  await child.waitFor((e) => e.msg === "baton serving");
  child.kill("SIGUSR2");
  const fatal = await child.waitFor((e) => e.msg === "unhandled promise rejection; stopping");
  expect(fatal).toMatchObject({
    level: "error",
    error: { message: "boom from a test", stack: expect.stringContaining("reject-on-signal.ts"), cause: { message: "the root cause" } },
  });
  await child.waitFor((e) => e.msg === "stopped");
  expect(await child.exited).toBe(1);
});
