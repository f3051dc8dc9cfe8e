import { afterAll, beforeAll, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type TestProcess, killAll, spawnTs } from "./helpers/process.js";
import { eventually } from "./helpers/wait.js";

let broker: TestBroker;
const processes: TestProcess[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
});

afterAll(async () => {
  await killAll(processes);
  await broker.stop();
});

test("a worker process acks 1,000 jobs enqueued by another process, each exactly once", async () => {
  const worker = spawnTs("test/fixtures/worker-process.ts", { BATON_URL: broker.baseUrl, QUEUES: "bulk", CONCURRENCY: "50" });
  const producer = spawnTs("test/fixtures/producer-process.ts", { BATON_URL: broker.baseUrl, QUEUE: "bulk", COUNT: "1000" });
  processes.push(worker, producer);

  const { ids } = (await producer.waitFor((e) => e.event === "enqueued")) as { ids: string[] };
  expect(new Set(ids).size).toBe(1000);
  await eventually(async () => (await countByState(broker.databaseUrl)).succeeded === 1000, { what: "all 1000 jobs to succeed" });

  const rows = await sql<{ id: string; attempt: number; state: string }>(broker.databaseUrl, "select id, attempt, state from baton.jobs");
  expect(rows).toHaveLength(1000);
  expect(rows.every((r) => r.state === "succeeded" && r.attempt === 1)).toBe(true);
  const done = worker.events.filter((e) => e.event === "done").map((e) => e.id as string);
  expect(done).toHaveLength(1000);
  expect(new Set(done)).toEqual(new Set(ids));
});

async function countByState(url: string): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: number }>(url, "select state, count(*)::int as n from baton.jobs group by state");
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}
