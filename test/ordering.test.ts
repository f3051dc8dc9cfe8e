import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startReplicas, stopAll } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";

let broker: TestBroker;
let replica: TestBroker;

beforeAll(async () => {
  [broker, replica] = (await startReplicas(2)) as [TestBroker, TestBroker];
});

afterAll(() => stopAll([broker, replica]));

test("a high-priority job enqueued after low ones is delivered first, FIFO within a priority", async () => {
  const low = await broker.jobs.enqueueJobs({ jobs: [1, 2, 3].map(() => ({ queue: "prio", priority: 10 })) });
  const { job: urgent } = await broker.jobs.enqueueJob({ queue: "prio", priority: -5 });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["prio"], maxInFlight: 1 } });
  const order: string[] = [];
  for (let i = 0; i < 4; i++) {
    const delivery = await stream.next("job");
    order.push(delivery.job!.id);
    stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
    stream.send({ case: "credit", value: { n: 1 } });
  }
  expect(order).toEqual([urgent!.id, ...low.jobs.map((j) => j.id)]);
  stream.close();
});

test("a delayed job is SCHEDULED, never delivered before its run time, and delivered once due", async () => {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["later"], maxInFlight: 1 } });
  await stream.next("welcome");
  const { job } = await broker.jobs.enqueueJob({ queue: "later", start: { case: "delay", value: durationFromMs(2000) } });
  expect(job!.state).toBe(JobState.SCHEDULED);
  const delivery = await stream.next("job");
  expect(delivery.job!.id).toBe(job!.id);
  // Database time: the lease began (expiry minus lease length) no earlier than the run time.
  const [row] = await sql<{ on_time: boolean }>(
    broker.databaseUrl,
    "select lease_expire_time - make_interval(secs => $2) >= run_time as on_time from baton.jobs where id = $1",
    [job!.id, broker.server.broker.config.leaseSeconds],
  );
  expect(row!.on_time).toBe(true);
  expect(timestampDate(delivery.job!.runTime!).getTime()).toBe(timestampDate(job!.runTime!).getTime());
  stream.close();
});

test("concurrent enqueues with one dedup_key on two replicas give exactly one job", async () => {
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => (i % 2 ? broker : replica).jobs.enqueueJob({ queue: "dedup", dedupKey: "order-42" })),
  );
  const ids = new Set(results.map((r) => r.job!.id));
  expect(ids.size).toBe(1);
  expect(results.filter((r) => !r.deduplicated)).toHaveLength(1);
  const rows = await sql(broker.databaseUrl, "select id from baton.jobs where dedup_key = 'order-42'");
  expect(rows).toHaveLength(1);
});

test("a dedup window also returns a job that finished recently; without one a new job is made", async () => {
  const { job: first } = await broker.jobs.enqueueJob({ queue: "window", dedupKey: "report" });
  await broker.jobs.cancelJob({ id: first!.id });
  const within = await broker.jobs.enqueueJob({ queue: "window", dedupKey: "report", dedupWindow: durationFromMs(3_600_000) });
  expect(within).toMatchObject({ deduplicated: true, job: { id: first!.id, state: JobState.CANCELLED } });
  const fresh = await broker.jobs.enqueueJob({ queue: "window", dedupKey: "report" });
  expect(fresh.deduplicated).toBe(false);
  expect(fresh.job!.id).not.toBe(first!.id);
});

test("ListJobs filters by queue and state and pages by keyset", async () => {
  const { jobs } = await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 5 }, () => ({ queue: "listing" })) });
  await broker.jobs.cancelJob({ id: jobs[0]!.id });
  const seen: string[] = [];
  let pageToken = "";
  do {
    const page = await broker.jobs.listJobs({ queue: "listing", state: JobState.AVAILABLE, pageSize: 2, pageToken });
    expect(page.jobs.length).toBeLessThanOrEqual(2);
    seen.push(...page.jobs.map((j) => j.id));
    pageToken = page.nextPageToken;
  } while (pageToken !== "");
  expect(seen).toEqual(jobs.slice(1).map((j) => j.id).reverse());
  const cancelled = await broker.jobs.listJobs({ queue: "listing", state: JobState.CANCELLED });
  expect(cancelled.jobs.map((j) => j.id)).toEqual([jobs[0]!.id]);
  await expect(broker.jobs.listJobs({ pageToken: "garbage" })).rejects.toThrow(/page_token/);
});
