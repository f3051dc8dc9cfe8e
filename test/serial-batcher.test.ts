import { expect, test } from "vitest";
import { SerialBatcher } from "../src/util/serial-batcher.js";

test("one write at a time: what arrives during a write is the next batch, and drain waits for all", async () => {
  const batches: number[][] = [];
  let release!: () => void;
  let inFlight = 0;
  let mostInFlight = 0;
  const batcher = new SerialBatcher<number>(async (batch) => {
    inFlight += 1;
    mostInFlight = Math.max(mostInFlight, inFlight);
    batches.push(batch);
    if (batches.length === 1) await new Promise<void>((resolve) => (release = resolve));
    inFlight -= 1;
  });
  batcher.add(1);
  batcher.add(2);
  await new Promise((resolve) => setImmediate(resolve));
  expect(batches).toEqual([[1, 2]]);
  for (const n of [3, 4, 5]) batcher.add(n);
  await new Promise((resolve) => setImmediate(resolve));
  expect(batches).toHaveLength(1);
  const drained = batcher.drain();
  release();
  await drained;
  expect(batches).toEqual([[1, 2], [3, 4, 5]]);
  expect(mostInFlight).toBe(1);
});
