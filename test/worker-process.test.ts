import { expect, test } from "vitest";
import { useTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { spawnTs } from "./helpers/process.js";
import { eventually } from "./helpers/wait.js";

const shared = useTestBroker();

test("a worker process acks 1,000 jobs enqueued by another process, each exactly once", async () => {
  const worker = spawnTs("test/fixtures/worker-process.ts", { BATON_URL: shared.broker.baseUrl, QUEUES: "bulk", CONCURRENCY: "50" });
  const producer = spawnTs("test/fixtures/producer-process.ts", { BATON_URL: shared.broker.baseUrl, QUEUE: "bulk", COUNT: "1000" });
  shared.processes.push(worker, producer);

  const { ids } = (await producer.waitFor((e) => e.event === "enqueued")) as { ids: string[] };
  expect(new Set(ids).size).toBe(1000);
  await eventually(async () => (await countByState(shared.broker.databaseUrl)).succeeded === 1000, { what: "all 1000 jobs to succeed" });

  const rows = await sql<{ id: string; attempt: number; state: string }>(shared.broker.databaseUrl, "select id, attempt, state from baton.jobs");
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
