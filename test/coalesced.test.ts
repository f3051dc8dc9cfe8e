/**
 * coalesced, which the queue-settings cache and the job waiter reload through: calls made while
 * a run is under way share it and ask for exactly one more run after it.
 */
import { expect, test } from "vitest";
import { coalesced } from "../src/util/coalesced.js";
import { eventually } from "./helpers/wait.js";

/** Runs that finish when the test says so, and a log of what happened in which order. */
function gatedRuns() {
  const gates: (() => void)[] = [];
  const log: string[] = [];
  const run = () =>
    new Promise<void>((resolve) => {
      const n = gates.length;
      log.push(`start ${n}`);
      gates.push(() => {
        log.push(`end ${n}`);
        resolve();
      });
    });
  const started = (count: number) => eventually(() => gates.length === count, { timeoutMs: 2_000, intervalMs: 1, what: `${count} runs to start` });
  return { run, gates, log, started };
}

test("calls while a run is under way share its promise and ask for one more run, not one each", async () => {
  const { run, gates, log, started } = gatedRuns();
  const refresh = coalesced(run);
  const first = refresh();
  const later = [refresh(), refresh(), refresh()];
  for (const call of later) expect(call).toBe(first);
  void first.then(() => log.push("answered"));
  gates[0]!();
  await started(2);
  gates[1]!();
  await first;
  // The shared promise waited for the follow-up run, and there was only that one.
  expect(log).toEqual(["start 0", "end 0", "start 1", "end 1", "answered"]);
});

test("a call after the run has ended starts a new run", async () => {
  const { run, gates, started } = gatedRuns();
  const refresh = coalesced(run);
  const first = refresh();
  gates[0]!();
  await first;
  const second = refresh();
  expect(second).not.toBe(first);
  await started(2);
  gates[1]!();
  await second;
  expect(gates).toHaveLength(2);
});
