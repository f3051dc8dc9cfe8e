import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { parseExposition, sampleValue } from "./fixtures/prometheus.js";
import { sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

/**
 * Hand-off: a job enqueued while a stream of the same replica waits for work is inserted
 * already leased to that stream, skipping the wakeup and the claim (JobInsertMany).
 */
let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker();
});

afterAll(() => broker.stop());

/** Enqueues jobs one at a time, each acked, until one is handed off; the first claims run meanwhile. */
async function enqueueUntilHandedOff(stream: TestStream, queue: string) {
  for (;;) {
    const { job } = await broker.jobs.enqueueJob({ queue, payload: new TextEncoder().encode("x") });
    const delivery = await stream.next("job");
    expect(delivery.job!.id).toBe(job!.id);
    stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
    stream.send({ case: "credit", value: { n: 1 } });
    expect(await stream.next("settled")).toMatchObject({ jobId: job!.id, ok: true });
    if (job!.state === JobState.LEASED) return { job: job!, delivery };
    expect(job!.state).toBe(JobState.AVAILABLE);
  }
}

test("a job enqueued for a waiting stream is leased at insert, delivered with that lease, and counted", async () => {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["handoff"], maxInFlight: 1 } });
  await stream.next("welcome");
  const { job, delivery } = await enqueueUntilHandedOff(stream, "handoff");
  expect(job.attempt).toBe(1);
  expect(delivery.job!.attempt).toBe(1);
  expect((await broker.jobs.getJob({ id: job.id })).job!.state).toBe(JobState.SUCCEEDED);
  // Its queue wait is observed like a claimed job's: one observation per job in the histogram.
  const [jobs] = await sql<{ n: number }>(broker.databaseUrl, "select count(*)::int as n from baton.jobs where queue = 'handoff'");
  const waits = async () =>
    sampleValue(parseExposition(await (await fetch(`${broker.baseUrl}/metrics`)).text()), "baton_job_queue_wait_seconds_count", { queue: "handoff" });
  // Scrapes are cached for a second.
  await eventually(async () => (await waits()) === jobs!.n, { intervalMs: 200 });
  stream.close();
  await stream.ended;
});

test("delayed jobs, jobs with a dedup_key and jobs of a paused queue are never handed off", async () => {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["plain-only"], maxInFlight: 1 } });
  await stream.next("welcome");
  await enqueueUntilHandedOff(stream, "plain-only");
  const delayed = (await broker.jobs.enqueueJob({ queue: "plain-only", start: { case: "delay", value: { seconds: 3600n } } })).job!;
  expect(delayed.state).toBe(JobState.SCHEDULED);
  const deduped = (await broker.jobs.enqueueJob({ queue: "plain-only", dedupKey: "k" })).job!;
  expect(deduped.state).toBe(JobState.AVAILABLE);
  const delivery = await stream.next("job");
  expect(delivery.job!.id).toBe(deduped.id);
  stream.close();
  await stream.ended;

  const paused = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["paused-handoff"], maxInFlight: 1 } });
  await paused.next("welcome");
  await enqueueUntilHandedOff(paused, "paused-handoff");
  await sql(broker.databaseUrl, "insert into baton.queues (name, paused) values ('paused-handoff', true)");
  // The replica's settings cache still says "not paused": the insert itself refuses the lease.
  const held = (await broker.jobs.enqueueJob({ queue: "paused-handoff" })).job!;
  expect(held.state).toBe(JobState.AVAILABLE);
  paused.close();
  await paused.ended;
});
