/**
 * The checker must catch what it claims to catch: each violation is planted in a small
 * synthetic history and must be reported; clean histories (including explained reruns and
 * recovered enqueues) must pass.
 */
import { describe, expect, test } from "vitest";
import { type FinalJob, History, type WorkerEvent, assertValid, check } from "./history.js";

function history(): History {
  const h = new History("synthetic", 1);
  for (const [nonce, id] of [
    ["a", "1"],
    ["b", "2"],
  ] as const) {
    h.attempt(nonce, "q");
    h.acknowledge(nonce, id);
  }
  return h;
}

const start = (id: string, attempt: number, lease: string, nonce: string, worker = "w1"): WorkerEvent => ({
  event: "start",
  worker,
  id,
  attempt,
  lease,
  nonce,
});
const settled = (id: string, start: string, ok: boolean, worker = "w1"): WorkerEvent => ({
  event: "settled",
  worker,
  id,
  lease: start,
  start,
  kind: "ack",
  ok,
  error: ok ? "" : "stale lease token",
});

const row = (id: string, nonce: string, over: Partial<FinalJob> = {}): FinalJob => ({
  id,
  queue: "q",
  state: "succeeded",
  attempt: 1,
  maxAttempts: 5,
  nonce,
  result: { worker: "w1", start: `t${id}`, attempt: 1 },
  errors: [],
  ...over,
});

function cleanRun(h: History): FinalJob[] {
  h.record(start("1", 1, "t1", "a"));
  h.record(settled("1", "t1", true));
  h.record(start("2", 1, "t2", "b"));
  h.record(settled("2", "t2", true));
  return [row("1", "a"), row("2", "b")];
}

describe("history checker", () => {
  test("a clean history is valid: every job processed once", () => {
    const h = history();
    const report = check(h, cleanRun(h));
    expect(report).toMatchObject({ valid: true, processed: 2, lost: 0, unexpected: 0, duplicated: 0 });
    expect(() => assertValid(report)).not.toThrow();
  });

  test("a rerun after the lease ended is an explained duplicate; a late ack refused by the fence is fine", () => {
    // Job 1: w1's attempt 1 lost its lease when its stream ended; w2's attempt 2 won; w1's
    // late ack was refused.
    const h2 = history();
    h2.record(start("1", 1, "t1", "a", "w1"));
    h2.record(start("1", 2, "t1b", "a", "w2"));
    h2.record(settled("1", "t1b", true, "w2"));
    h2.record(settled("1", "t1", false, "w1"));
    h2.record(start("2", 1, "t2", "b"));
    h2.record(settled("2", "t2", true));
    const report = check(h2, [
      row("1", "a", { attempt: 2, result: { worker: "w2", start: "t1b", attempt: 2 }, errors: [{ attempt: 1, message: "worker stream ended" }] }),
      row("2", "b"),
    ]);
    expect(report).toMatchObject({ valid: true, duplicated: 1, duplicatedExplained: 1, acksRefused: 1 });
  });

  test("a job that never finished is lost", () => {
    const h = history();
    const rows = cleanRun(h);
    rows[1] = row("2", "b", { state: "leased", result: undefined });
    const report = check(h, rows);
    expect(report).toMatchObject({ valid: false, lost: 1 });
    expect(report.problems.join()).toMatch(/job 2 .* lost: ended leased/);
  });

  test("an acknowledged job missing from the database is lost", () => {
    const h = history();
    const rows = cleanRun(h).slice(0, 1);
    expect(check(h, rows)).toMatchObject({ valid: false, lost: 1 });
  });

  test("a job nobody enqueued, or a second job for one enqueue, is unexpected", () => {
    const h = history();
    const rows = [...cleanRun(h), row("3", "zzz"), row("4", "a")];
    h.record(start("3", 1, "t3", "zzz"));
    h.record(start("4", 1, "t4", "a"));
    const report = check(h, rows);
    expect(report).toMatchObject({ valid: false, unexpected: 2 });
  });

  test("a second job for an acknowledged enqueue is unexpected", () => {
    const h = history();
    const rows = cleanRun(h);
    h.attempt("c", "q");
    h.acknowledge("c", "4");
    h.record(start("3", 1, "t3", "c"));
    h.record(start("4", 1, "t4", "c", "w2"));
    rows.push(row("3", "c"), row("4", "c", { result: { worker: "w2", start: "t4", attempt: 1 } }));
    expect(check(h, rows)).toMatchObject({ valid: false, unexpected: 1, processed: 3 });
  });

  test("a delivery of a job that does not exist is unexpected", () => {
    const h = history();
    const rows = cleanRun(h);
    h.record(start("99", 1, "t99", "ghost"));
    expect(check(h, rows)).toMatchObject({ valid: false, unexpected: 1 });
  });

  test("an enqueue whose reply was lost is recovered when its job exists, and not required", () => {
    const h = history();
    const rows = cleanRun(h);
    h.attempt("c", "q");
    h.attempt("d", "q");
    h.record(start("3", 1, "t3", "c"));
    rows.push(row("3", "c"));
    const report = check(h, rows);
    expect(report).toMatchObject({ valid: true, recovered: 1, indeterminate: 2 });
  });

  test("a second run without an ended lease is an unexplained duplicate", () => {
    const h = history();
    const rows = cleanRun(h);
    h.record(start("2", 2, "t2b", "b", "w2"));
    rows[1] = row("2", "b", { attempt: 2, errors: [{ attempt: 1, message: "failing on purpose" }] });
    const report = check(h, rows);
    expect(report).toMatchObject({ valid: false, duplicated: 1, duplicatedUnexplained: 1 });
  });

  test("two confirmed acks of one job fail the check, unless the stale one is the known batching bug", () => {
    const h = history();
    const rows = cleanRun(h);
    h.record(start("1", 2, "t1b", "a", "w2"));
    h.record(settled("1", "t1b", true, "w2"));
    rows[0] = row("1", "a", { attempt: 2, errors: [{ attempt: 1, message: "lease expired" }], result: { worker: "w2", start: "t1b", attempt: 2 } });
    const strict = check(h, rows, { tolerateFalseConfirmation: false });
    expect(strict.valid).toBe(false);
    expect(strict.problems.join("\n")).toMatch(/2 acks were confirmed/);
    // w1's attempt 1 ended (lease expired), yet its ack was confirmed: the known bug's symptom.
    expect(check(h, rows, { tolerateFalseConfirmation: true })).toMatchObject({ valid: true, falseConfirmations: 1, acksConfirmed: 2 });
    // A confirmed ack for an attempt that never ended is no batching artefact.
    rows[0] = row("1", "a", { attempt: 2, errors: [{ attempt: 1, message: "failing on purpose" }], result: { worker: "w2", start: "t1b", attempt: 2 } });
    expect(check(h, rows, { tolerateFalseConfirmation: true }).valid).toBe(false);
  });

  test("attempts above max_attempts fail the check", () => {
    const h = history();
    const rows = cleanRun(h);
    rows[0] = row("1", "a", { attempt: 6, maxAttempts: 5, errors: [1, 2, 3, 4, 5].map((attempt) => ({ attempt, message: "lease expired" })) });
    const report = check(h, rows);
    expect(report).toMatchObject({ valid: false, attemptsAboveMax: 1 });
  });

  test("a success that no recorded handler run produced fails the check", () => {
    const h = history();
    const rows = cleanRun(h);
    rows[0] = row("1", "a", { result: { worker: "w9", start: "nobody", attempt: 1 } });
    expect(check(h, rows).problems.join()).toMatch(/no recorded handler run produced/);
  });

  test("an error history that misses an attempt fails the check", () => {
    const h = history();
    const rows = cleanRun(h);
    rows[0] = row("1", "a", { attempt: 3, errors: [{ attempt: 1, message: "lease expired" }] });
    expect(check(h, rows).problems.join()).toMatch(/succeeded at attempt 3 but 1 failed attempts recorded/);
  });

  test("a poison job expected DEAD is processed when it ends DEAD", () => {
    const h = history();
    h.attempt("p", "q", "dead");
    h.acknowledge("p", "3");
    const rows = cleanRun(h);
    for (let attempt = 1; attempt <= 3; attempt++) h.record(start("3", attempt, `tp${attempt}`, "p", `w${attempt}`));
    const errors = [1, 2, 3].map((attempt) => ({ attempt, message: "worker stream ended" }));
    rows.push(row("3", "p", { state: "dead", attempt: 3, maxAttempts: 3, result: undefined, errors }));
    expect(check(h, rows)).toMatchObject({ valid: true, dead: 1, duplicated: 1, duplicatedExplained: 1, processed: 3 });
  });
});
