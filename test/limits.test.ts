import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { QueueConfigSchema, QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let a: TestBroker;
let b: TestBroker;
let queues: Client<typeof QueueService>;

beforeAll(async () => {
  a = await startTestBroker();
  b = await startTestBroker({}, a.databaseUrl);
  queues = createClient(QueueService, createGrpcTransport({ baseUrl: a.baseUrl }));
});

afterAll(async () => {
  await b.stop();
  await a.stop();
});

/** Acks every job the stream receives after `holdMs`, recording how many ran at once. */
function ackingWorker(stream: TestStream, running: { now: number; max: number; done: number }, holdMs: number) {
  let seen = 0;
  const loop = async () => {
    for (;;) {
      const delivery = await stream.next("job").catch(() => undefined);
      if (!delivery) return;
      seen++;
      running.now++;
      running.max = Math.max(running.max, running.now);
      setTimeout(() => {
        running.now--;
        running.done++;
        stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
        stream.send({ case: "credit", value: { n: 1 } });
      }, holdMs);
    }
  };
  void loop();
  return () => seen;
}

test("a concurrency limit of 2 is never exceeded with 10 workers on 2 replicas", async () => {
  await queues.updateQueue({ queue: "limited", config: { concurrencyLimit: 2 } });
  const running = { now: 0, max: 0, done: 0 };
  const streams = Array.from({ length: 10 }, (_, i) =>
    openStream((i % 2 ? a : b).workers, { case: "hello", value: { workerId: `w${i}`, queues: ["limited"], maxInFlight: 3 } }),
  );
  await Promise.all(streams.map((s) => s.next("welcome")));
  for (const stream of streams) ackingWorker(stream, running, 20);
  await a.jobs.enqueueJobs({ jobs: Array.from({ length: 40 }, () => ({ queue: "limited" })) });
  // Sample the database too: the limit holds across replicas, not only in this process.
  let maxLeased = 0;
  await eventually(async () => {
    const [row] = await sql<{ n: number }>(a.databaseUrl, "select count(*)::int as n from baton.jobs where queue = 'limited' and state = 'leased'");
    maxLeased = Math.max(maxLeased, row!.n);
    return running.done === 40;
  }, { intervalMs: 5 });
  expect(running.max).toBeLessThanOrEqual(2);
  expect(maxLeased).toBeLessThanOrEqual(2);
  expect(running.max).toBe(2);
  streams.forEach((s) => s.close());
});

test("fairness keys take turns and each key stays within its limit", async () => {
  await queues.updateQueue({ queue: "tenants", config: { fairnessKeyLimit: 1 } });
  // A noisy tenant enqueues first; the quiet ones must not wait behind all its jobs.
  await a.jobs.enqueueJobs({ jobs: Array.from({ length: 6 }, () => ({ queue: "tenants", fairnessKey: "noisy" })) });
  await a.jobs.enqueueJobs({ jobs: ["quiet-1", "quiet-2"].map((fairnessKey) => ({ queue: "tenants", fairnessKey })) });
  const stream = openStream(a.workers, { case: "hello", value: { workerId: "w", queues: ["tenants"], maxInFlight: 10 } });
  const first = await Promise.all([stream.next("job"), stream.next("job"), stream.next("job")]);
  expect(first.map((d) => d.job!.fairnessKey).sort()).toEqual(["noisy", "quiet-1", "quiet-2"]);
  // One job per key at a time: nothing more until one settles. A fourth key's job, enqueued
  // now, is the signal that a claim ran with the noisy jobs waiting: it alone is delivered.
  await a.jobs.enqueueJob({ queue: "tenants", fairnessKey: "quiet-3" });
  expect((await stream.next("job")).job!.fairnessKey).toBe("quiet-3");
  expect(stream.received.filter((r) => r.message.case === "job")).toHaveLength(4);
  const noisy = first.find((d) => d.job!.fairnessKey === "noisy")!;
  stream.send({ case: "ack", value: { jobId: noisy.job!.id, leaseToken: noisy.leaseToken } });
  expect((await stream.next("job")).job!.fairnessKey).toBe("noisy");
  stream.close();
});

test("a rate limit spreads starts out over time, across replicas", async () => {
  await queues.updateQueue({ queue: "metered", config: { rateLimit: 20 } });
  const running = { now: 0, max: 0, done: 0 };
  const streams = [a, b].map((broker, i) =>
    openStream(broker.workers, { case: "hello", value: { workerId: `m${i}`, queues: ["metered"], maxInFlight: 50 } }),
  );
  await Promise.all(streams.map((s) => s.next("welcome")));
  streams.forEach((s) => ackingWorker(s, running, 0));
  await a.jobs.enqueueJobs({ jobs: Array.from({ length: 30 }, () => ({ queue: "metered" })) });
  await eventually(() => running.done === 30);
  // Database time: 30 starts at 20/s with a bucket of 20 need at least half a second.
  const [row] = await sql<{ span: number }>(
    a.databaseUrl,
    "select extract(epoch from max(finish_time) - min(create_time))::float8 as span from baton.jobs where queue = 'metered'",
  );
  expect(row!.span).toBeGreaterThanOrEqual(0.45);
  streams.forEach((s) => s.close());
});

test("queues report counts and settings, and an update mask resets a setting", async () => {
  await a.jobs.enqueueJobs({ jobs: [{ queue: "report" }, { queue: "report", start: { case: "delay", value: durationFromMs(60_000) } }] });
  const { queue } = await queues.updateQueue({
    queue: "report",
    config: create(QueueConfigSchema, { maxAttempts: 7, leaseDuration: durationFromMs(90_000), succeededRetention: durationFromMs(3_600_000) }),
  });
  expect(queue).toMatchObject({ name: "report", available: 1n, scheduled: 1n, config: { maxAttempts: 7 } });
  expect(queue!.config!.leaseDuration!.seconds).toBe(90n);
  const { job } = await a.jobs.enqueueJob({ queue: "report" });
  expect(job!.maxAttempts).toBe(7);
  const reset = await queues.updateQueue({ queue: "report", config: {}, updateMask: { paths: ["max_attempts"] } });
  expect(reset.queue!.config!.maxAttempts).toBe(0);
  expect(reset.queue!.config!.leaseDuration!.seconds).toBe(90n);
  const { queues: all } = await queues.listQueues({});
  expect(all.map((q) => q.name)).toContain("report");
  await expect(queues.updateQueue({ queue: "report", config: { concurrencyLimit: -1 } })).rejects.toThrow(/concurrency_limit/);
  await expect(queues.getQueue({ queue: "never-used" })).rejects.toThrow(/not found/);
});

test("the retention sweeper deletes finished jobs past their queue's retention, and only those", async () => {
  const sweeping = await startTestBroker({ broker: { retentionIntervalMs: 50 } }, a.databaseUrl);
  try {
    await queues.updateQueue({ queue: "short-lived", config: { succeededRetention: durationFromMs(1000) } });
    const { jobs } = await a.jobs.enqueueJobs({ jobs: [{ queue: "short-lived" }, { queue: "short-lived" }, { queue: "long-lived" }] });
    // Finished an hour ago by database time; one short-lived job still waits.
    await sql(
      a.databaseUrl,
      "update baton.jobs set state = 'succeeded', finish_time = now() - interval '1 hour' where id = any($1::bigint[])",
      [[jobs[0]!.id, jobs[2]!.id]],
    );
    await eventually(async () => (await sql(a.databaseUrl, "select 1 from baton.jobs where id = $1", [jobs[0]!.id])).length === 0);
    expect((await a.jobs.getJob({ id: jobs[1]!.id })).job!.state).toBe(JobState.AVAILABLE);
    expect((await a.jobs.getJob({ id: jobs[2]!.id })).job!.state).toBe(JobState.SUCCEEDED);
  } finally {
    await sweeping.stop();
  }
});
