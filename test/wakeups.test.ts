import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

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
  await untilWaiting(stream, "idle");
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
  await eventually(
    async () => {
      const now = await listenerPids();
      return now.length === 2 && now.every((pid) => !before.includes(pid));
    },
    { what: "both replicas to LISTEN on new backends" },
  );
  await untilWaiting(stream, "relisten");
  const { job } = await producer.jobs.enqueueJob({ queue: "relisten" });
  expect((await stream.next("job")).job!.id).toBe(job!.id);
  stream.close();
});

/**
 * Returns once the stream waits for work with no claim of its replica under way, so that from
 * then on only a wakeup can deliver to it. The signal: a probe enqueued on the stream's own
 * replica is handed to it directly (answered LEASED), which that replica does only for a stream
 * whose last claim came up short and that has none running. Each probe is acked, and its credit
 * given back.
 */
async function untilWaiting(stream: TestStream, queue: string): Promise<void> {
  await eventually(
    async () => {
      const { job: probe } = await consumer.jobs.enqueueJob({ queue });
      const delivery = await stream.next("job");
      stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
      expect((await stream.next("settled")).ok).toBe(true);
      stream.send({ case: "credit", value: { n: 1 } });
      return probe!.state === JobState.LEASED;
    },
    { what: `the stream on ${queue} to wait for work`, intervalMs: 1 },
  );
}


