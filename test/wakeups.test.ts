import { afterAll, beforeAll, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";

/**
 * The worker's replica polls only once a minute, and jobs are enqueued through a second
 * replica: a job can reach the worker quickly only through LISTEN/NOTIFY.
 */
let consumer: TestBroker;
let producer: TestBroker;

beforeAll(async () => {
  consumer = await startTestBroker({ broker: { pollIntervalMs: 60_000 } });
  producer = await startTestBroker({ broker: { pollIntervalMs: 60_000 } }, consumer.databaseUrl);
});

afterAll(async () => {
  await producer.stop();
  await consumer.stop();
});

test("a job enqueued on another replica reaches an idle subscribed worker through NOTIFY", async () => {
  const stream = openStream(consumer.workers, { case: "hello", value: { workerId: "w", queues: ["idle"], maxInFlight: 5 } });
  await stream.next("welcome");
  await settle();
  const { job } = await producer.jobs.enqueueJob({ queue: "idle" });
  const delivery = await stream.next("job");
  expect(delivery.job!.id).toBe(job!.id);
  stream.close();
});

test("after pg_terminate_backend of the LISTEN connection, new jobs are still delivered", async () => {
  const stream = openStream(consumer.workers, { case: "hello", value: { workerId: "w", queues: ["relisten"], maxInFlight: 5 } });
  await stream.next("welcome");
  const listenerPids = async () =>
    (
      await sql<{ pid: number }>(
        consumer.databaseUrl,
        "select pid from pg_stat_activity where application_name = 'baton-listener' and datname = current_database()",
      )
    ).map((r) => r.pid);
  const before = await listenerPids();
  expect(before).toHaveLength(2); // one per replica
  await sql(consumer.databaseUrl, "select pg_terminate_backend(pid) from unnest($1::int[]) pid", [before]);

  // Both replicas reconnect and LISTEN again with new backends.
  await waitFor(async () => {
    const now = await listenerPids();
    return now.length === 2 && now.every((pid) => !before.includes(pid));
  });
  await settle();
  const { job } = await producer.jobs.enqueueJob({ queue: "relisten" });
  expect((await stream.next("job")).job!.id).toBe(job!.id);
  stream.close();
});

/** Lets the subscription's first claim (an empty queue) finish, so only a wakeup can deliver. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 200));

async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50));
}
