import { expect, test } from "vitest";
import { WriteBatcher } from "../src/util/write-batcher.js";

/** A batcher whose writes each wait until released, recording batches and concurrency. */
function recorder(maxWrites: number) {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  let inFlight = 0;
  let mostInFlight = 0;
  const batcher = new WriteBatcher<number>(async (batch) => {
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    batches.push(batch);
    await new Promise<void>((resolve) => releases.push(resolve));
    inFlight -= 1;
  }, maxWrites);
  return { batcher, batches, releases, mostInFlight: () => mostInFlight };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

test("one write at a time: what arrives during a write is the next batch, and drain waits for all", async () => {
  const { batcher, batches, releases, mostInFlight } = recorder(1);
  batcher.add(1);
  batcher.add(2);
  await turn();
  expect(batches).toEqual([[1, 2]]);
  for (const n of [3, 4, 5]) batcher.add(n);
  await turn();
  expect(batches).toHaveLength(1);
  const drained = batcher.drain();
  releases.shift()!();
  await turn();
  await turn();
  expect(batches).toEqual([[1, 2], [3, 4, 5]]);
  releases.shift()!();
  await drained;
  expect(mostInFlight()).toBe(1);
});

test("with two writes allowed, a stuck write does not hold back the next batch", async () => {
  const { batcher, batches, releases, mostInFlight } = recorder(2);
  batcher.add(1);
  await turn();
  batcher.add(2);
  await turn();
  expect(batches).toEqual([[1], [2]]);
  batcher.add(3);
  await turn();
  expect(batches).toHaveLength(2);
  releases[1]!();
  await turn();
  await turn();
  expect(batches).toEqual([[1], [2], [3]]);
  releases[0]!();
  releases[2]!();
  await batcher.drain();
  expect(mostInFlight()).toBe(2);
});
