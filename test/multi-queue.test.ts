/**
 * A worker on several queues is served by priority across them and round-robin among equal
 * priorities: no subscribed queue starves behind another's backlog.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";

let broker: TestBroker;

beforeAll(async () => {
  // Limits are read from the queues table when the broker starts, so they are set first.
  const databaseUrl = await createTestDatabase();
  await sql(databaseUrl, "insert into baton.queues (name, concurrency_limit) values ('lim-limited', 100)");
  broker = await startTestBroker({}, databaseUrl);
});

afterAll(async () => {
  await broker?.stop();
});

async function enqueue(queue: string, count: number, priority = 0): Promise<void> {
  await broker.jobs.enqueueJobs({ jobs: Array.from({ length: count }, () => ({ queue, priority })) });
}

/** Takes `count` deliveries, acking each at once (and granting its credit back), and returns their queues in order. */
async function take(stream: TestStream, count: number): Promise<string[]> {
  const queues: string[] = [];
  for (let i = 0; i < count; i++) {
    const delivery = await stream.next("job");
    queues.push(delivery.job!.queue);
    stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
    stream.send({ case: "credit", value: { n: 1 } });
  }
  return queues;
}

function subscribe(queues: string[], maxInFlight: number): TestStream {
  return openStream(broker.workers, { case: "hello", value: { workerId: "multi", queues, maxInFlight } });
}

test("a backlog on the first queue does not starve the second (one in flight)", async () => {
  await enqueue("starve-a", 50);
  await enqueue("starve-b", 1);
  const stream = subscribe(["starve-a", "starve-b"], 1);
  const order = await take(stream, 3);
  expect(order).toContain("starve-b");
  // And it keeps taking turns while the backlog on a lasts.
  await enqueue("starve-b", 2);
  const later = await take(stream, 4);
  expect(later.filter((q) => q === "starve-b")).toHaveLength(2);
  stream.close();
});

test("priority comes first across the queues of a stream", async () => {
  await enqueue("prio-a", 5, 5);
  await enqueue("prio-b", 1, 0);
  await enqueue("prio-c", 1, 3);
  const stream = subscribe(["prio-a", "prio-b", "prio-c"], 1);
  expect(await take(stream, 3)).toEqual(["prio-b", "prio-c", "prio-a"]);
  stream.close();
});

test("queues of equal priority take turns, one claim or many", async () => {
  for (const queue of ["rr-a", "rr-b", "rr-c"]) await enqueue(queue, 6);
  const one = subscribe(["rr-c", "rr-a", "rr-b"], 1);
  const order = await take(one, 9);
  // Every window of three consecutive deliveries covers the three queues.
  for (let i = 0; i + 3 <= order.length; i++) expect(new Set(order.slice(i, i + 3)).size).toBe(3);
  one.close();

  for (const queue of ["batch-a", "batch-b", "batch-c"]) await enqueue(queue, 10);
  // Six credits: one claim of six jobs, two from each queue.
  const wide = subscribe(["batch-a", "batch-b", "batch-c"], 6);
  const first = [];
  for (let i = 0; i < 6; i++) first.push((await wide.next("job")).job!.queue);
  expect(first.filter((q) => q === "batch-a")).toHaveLength(2);
  expect(first.filter((q) => q === "batch-b")).toHaveLength(2);
  expect(first.filter((q) => q === "batch-c")).toHaveLength(2);
  wide.close();
});

test("a queue with a concurrency limit takes turns with the stream's other queues", async () => {
  await enqueue("lim-limited", 20);
  await enqueue("lim-plain", 20);
  const stream = subscribe(["lim-plain", "lim-limited"], 1);
  const order = await take(stream, 4);
  expect(order.filter((q) => q === "lim-limited")).toHaveLength(2);
  expect(order.filter((q) => q === "lim-plain")).toHaveLength(2);
  stream.close();
});
