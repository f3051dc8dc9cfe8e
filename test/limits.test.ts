import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { QueueConfigSchema, QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { expectError } from "./helpers/errors.js";
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

/** Jobs running in the test's workers: now, at most, and finished; per fairness key if `keys` is set. */
interface Running {
  now: number;
  max: number;
  done: number;
  keys?: Map<string, { now: number; max: number }>;
}

/**
 * Acks every job the stream receives `holdMs` after `release` (at once by default), recording
 * how many ran at once. A job counts as running until its ack is sent, so these counts never
 * exceed what the database held as leased at the same moment.
 */
function ackingWorker(stream: TestStream, running: Running, holdMs: number, release: Promise<void> = Promise.resolve()) {
  let seen = 0;
  const loop = async () => {
    for (;;) {
      const delivery = await stream.next("job").catch(() => undefined);
      if (!delivery) return;
      seen++;
      running.now++;
      running.max = Math.max(running.max, running.now);
      const key = delivery.job!.fairnessKey;
      const perKey = running.keys && key !== "" ? running.keys.get(key) ?? running.keys.set(key, { now: 0, max: 0 }).get(key)! : undefined;
      if (perKey) perKey.max = Math.max(perKey.max, ++perKey.now);
      void release.then(() =>
        setTimeout(() => {
          running.now--;
          if (perKey) perKey.now--;
          running.done++;
          stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
          stream.send({ case: "credit", value: { n: 1 } });
        }, holdMs),
      );
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

test("a fairness concurrency limit of 2 holds for every key with 10 workers on 2 replicas, the keys running side by side", async () => {
  await queues.updateQueue({ queue: "tenant-slots", config: { fairnessConcurrencyLimit: 2 } });
  const running: Running = { now: 0, max: 0, done: 0, keys: new Map() };
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const streams = Array.from({ length: 10 }, (_, i) =>
    openStream((i % 2 ? a : b).workers, { case: "hello", value: { workerId: `t${i}`, queues: ["tenant-slots"], maxInFlight: 3 } }),
  );
  await Promise.all(streams.map((s) => s.next("welcome")));
  for (const stream of streams) ackingWorker(stream, running, 10, released);
  const keys = ["acme", "globex", "initech"];
  await a.jobs.enqueueJobs({ jobs: keys.flatMap((fairnessKey) => Array.from({ length: 8 }, () => ({ queue: "tenant-slots", fairnessKey }))) });
  // Held until each key runs its 2: the limit is reached for every key at once, on 30 slots.
  await eventually(() => keys.every((key) => running.keys!.get(key)?.now === 2), { what: "2 running jobs of each key" });
  release();
  // Sample the database too: the limit holds across replicas, not only in this process.
  let maxLeasedPerKey = 0;
  await eventually(async () => {
    const rows = await sql<{ n: number }>(
      a.databaseUrl,
      "select count(*)::int as n from baton.jobs where queue = 'tenant-slots' and state = 'leased' group by fairness_key",
    );
    maxLeasedPerKey = Math.max(maxLeasedPerKey, ...rows.map((row) => row.n));
    return running.done === 24;
  }, { intervalMs: 5 });
  expect(maxLeasedPerKey).toBeLessThanOrEqual(2);
  expect([...running.keys!.values()].map((key) => key.max)).toEqual([2, 2, 2]);
  streams.forEach((s) => s.close());
});

test("jobs of a key held back by its fairness rate limit start once its bucket refills, without a poll", async () => {
  // Replicas whose fallback poll never comes: only the dispatcher's refill timer claims again.
  const slow = { broker: { pollIntervalMs: 3_600_000 } };
  const [c, d] = [await startTestBroker(slow, a.databaseUrl), await startTestBroker(slow, a.databaseUrl)];
  try {
    await queues.updateQueue({ queue: "tenant-rate", config: { fairnessRateLimit: 20 } });
    const running: Running = { now: 0, max: 0, done: 0 };
    const streams = [c, d].map((broker, i) =>
      openStream(broker.workers, { case: "hello", value: { workerId: `r${i}`, queues: ["tenant-rate"], maxInFlight: 50 } }),
    );
    await Promise.all(streams.map((s) => s.next("welcome")));
    streams.forEach((s) => ackingWorker(s, running, 0));
    // 50 jobs of one key need two refills of its bucket of 20; keyless jobs have none.
    await c.jobs.enqueueJobs({
      jobs: [...Array.from({ length: 50 }, () => ({ queue: "tenant-rate", fairnessKey: "bulk" })), ...Array.from({ length: 5 }, () => ({ queue: "tenant-rate" }))],
    });
    await eventually(() => running.done === 55, { what: "all 55 jobs done" });
    const [bucket] = await sql<{ tokens: number }>(a.databaseUrl, "select tokens from baton.fairness_buckets where queue = 'tenant-rate' and fairness_key = 'bulk'");
    expect(bucket!.tokens).toBeGreaterThanOrEqual(0);
    streams.forEach((s) => s.close());
  } finally {
    await Promise.all([c.stop(), d.stop()]);
  }
});

test("fairness_concurrency_limit and its first name fairness_key_limit are one setting, on every replica", async () => {
  const old = await queues.updateQueue({ queue: "tenant-alias", config: { fairnessKeyLimit: 3 } });
  expect(old.queue!.config).toMatchObject({ fairnessKeyLimit: 3, fairnessConcurrencyLimit: 3 });
  const renamed = await queues.updateQueue({ queue: "tenant-alias", config: { fairnessConcurrencyLimit: 4, fairnessRateLimit: 2.5 } });
  expect(renamed.queue!.config).toMatchObject({ fairnessKeyLimit: 4, fairnessConcurrencyLimit: 4, fairnessRateLimit: 2.5 });
  const both = await queues.updateQueue({ queue: "tenant-alias", config: { fairnessKeyLimit: 5, fairnessConcurrencyLimit: 5 } });
  expect(both.queue!.config).toMatchObject({ fairnessKeyLimit: 5, fairnessConcurrencyLimit: 5 });
  await expectError(
    queues.updateQueue({ queue: "tenant-alias", config: { fairnessKeyLimit: 5, fairnessConcurrencyLimit: 6 } }),
    Code.InvalidArgument,
    /^config\.fairness_key_limit \(5\) and config\.fairness_concurrency_limit \(6\) are one setting under two names: set fairness_concurrency_limit only/,
  );
  // The old name in an update mask resets the one setting; the rate limit stays.
  const reset = await queues.updateQueue({ queue: "tenant-alias", config: {}, updateMask: { paths: ["fairness_key_limit"] } });
  expect(reset.queue!.config).toMatchObject({ fairnessKeyLimit: 0, fairnessConcurrencyLimit: 0, fairnessRateLimit: 2.5 });
  const onB = createClient(QueueService, createGrpcTransport({ baseUrl: b.baseUrl }));
  expect((await onB.getQueue({ queue: "tenant-alias" })).queue!.config).toMatchObject({ fairnessConcurrencyLimit: 0, fairnessRateLimit: 2.5 });
});

test("limits per fairness key that are negative, too large, NaN or infinite are INVALID_ARGUMENT, and nothing is set", async () => {
  const cases: [Parameters<typeof queues.updateQueue>[0]["config"], RegExp][] = [
    [{ fairnessConcurrencyLimit: -1 }, /^config\.fairness_concurrency_limit must be between 1 and 1000000 \(0 resets it\)$/],
    [{ fairnessKeyLimit: 1_000_001 }, /^config\.fairness_key_limit must be between 1 and 1000000 \(0 resets it\)$/],
    [{ fairnessRateLimit: -0.5 }, /^config\.fairness_rate_limit must be positive and at most 1000000 per second \(0 resets it\)$/],
    [{ fairnessRateLimit: 1e308 }, /^config\.fairness_rate_limit must be positive and at most 1000000 per second/],
    [{ fairnessRateLimit: Number.NaN }, /^config\.fairness_rate_limit must be a finite number of jobs per second, not NaN$/],
    [{ fairnessRateLimit: Number.POSITIVE_INFINITY }, /^config\.fairness_rate_limit must be a finite number of jobs per second, not Infinity$/],
    [{ fairnessRateLimit: Number.NEGATIVE_INFINITY }, /^config\.fairness_rate_limit must be a finite number of jobs per second, not -Infinity$/],
  ];
  for (const [config, message] of cases) {
    await expectError(queues.updateQueue({ queue: "tenant-bad", config }), Code.InvalidArgument, message);
  }
  await expectError(queues.getQueue({ queue: "tenant-bad" }), Code.NotFound, /not found/);
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

test("every replica sweeps the buckets of fairness keys that have filled up again, and only those", async () => {
  const sweeping = await startTestBroker({ broker: { retentionIntervalMs: 50 } }, a.databaseUrl);
  try {
    await queues.updateQueue({ queue: "tenant-sweep", config: { fairnessRateLimit: 1 } });
    // An empty bucket refilled long ago by database time, and one that an hour will not fill.
    await sql(
      a.databaseUrl,
      `insert into baton.fairness_buckets (queue, fairness_key, tokens, refill_time)
       values ('tenant-sweep', 'gone', 0, now() - interval '1 hour'), ('tenant-sweep', 'recent', -7200, now())`,
    );
    await eventually(async () => (await sql(a.databaseUrl, "select 1 from baton.fairness_buckets where fairness_key = 'gone'")).length === 0);
    expect(await sql(a.databaseUrl, "select fairness_key from baton.fairness_buckets where queue = 'tenant-sweep'")).toEqual([{ fairness_key: "recent" }]);
  } finally {
    await sweeping.stop();
  }
});
