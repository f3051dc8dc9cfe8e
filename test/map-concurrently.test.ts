/**
 * mapConcurrently, which EnqueueJobsStream answers batches with: bounded work, results as they
 * finish, and a stop that leaves nothing read-but-unanswered worked on.
 */
import { expect, test } from "vitest";
import { AsyncQueue } from "../src/util/async-queue.js";
import { mapConcurrently } from "../src/util/map-concurrently.js";
import { eventually } from "./helpers/wait.js";

/** Work that finishes when the test says so. */
function gatedWork() {
  const gates = new Map<number, () => void>();
  const started: number[] = [];
  let running = 0;
  let mostAtOnce = 0;
  const work = async (item: number) => {
    started.push(item);
    running += 1;
    mostAtOnce = Math.max(mostAtOnce, running);
    await new Promise<void>((resolve) => gates.set(item, resolve));
    running -= 1;
    return item * 10;
  };
  const until = (check: () => boolean) => eventually(check, { timeoutMs: 2_000, intervalMs: 1, what: "the work to get there" });
  return { work, started, gates, until, mostAtOnce: () => mostAtOnce };
}

test("works on at most `limit` items at once and yields each result as it finishes", async () => {
  const source = new AsyncQueue<number>();
  for (const item of [1, 2, 3, 4, 5]) source.push(item);
  source.end();
  const { work, started, gates, until, mostAtOnce } = gatedWork();
  const results: number[] = [];
  const done = (async () => {
    for await (const result of mapConcurrently(source, 2, work)) results.push(result);
  })();
  await until(() => started.length === 2);
  gates.get(2)!();
  await until(() => results.length === 1 && started.length === 3);
  for (const item of [1, 3, 4, 5]) {
    await until(() => gates.has(item));
    gates.get(item)!();
  }
  await done;
  expect(results).toEqual([20, 10, 30, 40, 50]);
  expect(mostAtOnce()).toBe(2);
});

test("after stop, reads nothing more, finishes the work under way, and ends", async () => {
  const source = new AsyncQueue<number>();
  source.push(1);
  const stop = new AbortController();
  const { work, started, gates, until } = gatedWork();
  const results: number[] = [];
  const done = (async () => {
    for await (const result of mapConcurrently(source, 4, work, stop.signal)) results.push(result);
  })();
  await until(() => started.length === 1);
  stop.abort();
  // Arrives after the stop: never worked on, though the source is still open.
  source.push(2);
  gates.get(1)!();
  await done;
  expect(results).toEqual([10]);
  expect(started).toEqual([1]);
});

test("a failed read ends the iteration with its error", async () => {
  async function* failing(): AsyncGenerator<number> {
    yield 1;
    await Promise.resolve();
    throw new Error("stream broke");
  }
  const results: number[] = [];
  await expect(
    (async () => {
      for await (const result of mapConcurrently(failing(), 2, (item) => Promise.resolve(item))) results.push(result);
    })(),
  ).rejects.toThrow("stream broke");
});
