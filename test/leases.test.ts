import pg from "pg";
import { expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { startTestBroker, useTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { spawnTs } from "./helpers/process.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

// A short lease so renewals happen several times within one test.
const shared = useTestBroker({ broker: { leaseSeconds: 1.5, reapIntervalMs: 200 } });

test("a job whose worker is killed with SIGKILL is delivered to another worker and completes with attempt 2", async () => {
  const { job } = await shared.broker.jobs.enqueueJob({ queue: "crash" });
  const doomed = spawnTs("test/fixtures/worker-process.ts", { BATON_URL: shared.broker.baseUrl, QUEUES: "crash", MODE: "hang" });
  shared.processes.push(doomed);
  await doomed.waitFor((e) => e.event === "start" && e.id === job!.id);
  doomed.kill("SIGKILL");
  await doomed.exited;

  const rescuer = spawnTs("test/fixtures/worker-process.ts", { BATON_URL: shared.broker.baseUrl, QUEUES: "crash" });
  shared.processes.push(rescuer);
  const done = await rescuer.waitFor((e) => e.event === "done" && e.id === job!.id);
  expect(done.attempt).toBe(2);
  await eventually(async () => (await shared.broker.jobs.getJob({ id: job!.id })).job!.state === JobState.SUCCEEDED, { what: "the rescued job to succeed" });
  const finished = (await shared.broker.jobs.getJob({ id: job!.id })).job!;
  expect(finished.attempt).toBe(2);
  expect(finished.errors.map((e) => e.message)).toEqual(["worker stream ended"]);
});

test("an ack with a stale lease token is refused, changes nothing, and the stream stays usable", async () => {
  const { job } = await shared.broker.jobs.enqueueJob({ queue: "stale" });
  const stream = openStream(shared.broker.workers, { case: "hello", value: { workerId: "w", queues: ["stale"], maxInFlight: 2 } });
  const delivery = await stream.next("job");
  expect(delivery.job!.id).toBe(job!.id);

  stream.send({ case: "ack", value: { jobId: job!.id, leaseToken: "00000000-0000-4000-8000-000000000000" } });
  const refused = await stream.next("settled");
  expect(refused.ok).toBe(false);
  expect(refused.error).toMatch(/stale lease token/);
  expect((await shared.broker.jobs.getJob({ id: job!.id })).job!.state).toBe(JobState.LEASED);

  stream.send({ case: "ack", value: { jobId: job!.id, leaseToken: delivery.leaseToken } });
  expect(await stream.next("settled")).toMatchObject({ jobId: job!.id, ok: true });
  stream.send({ case: "ack", value: { jobId: job!.id, leaseToken: delivery.leaseToken } });
  const twice = await stream.next("settled");
  expect(twice.ok).toBe(false);
  expect(twice.error).toMatch(/no longer leased \(it is succeeded\)/);
  expect((await shared.broker.jobs.getJob({ id: job!.id })).job!.state).toBe(JobState.SUCCEEDED);
  stream.close();
});

test("a lease outlives its initial duration while the stream stays open, without any message about the job", async () => {
  const { job } = await shared.broker.jobs.enqueueJob({ queue: "renew" });
  const stream = openStream(shared.broker.workers, { case: "hello", value: { workerId: "w", queues: ["renew"], maxInFlight: 1 } });
  const delivery = await stream.next("job");
  const firstExpiry = delivery.leaseExpireTime!.seconds;

  // Three lease lengths pass by database time; the reaper runs every 200 ms meanwhile.
  await eventually(
    async () => (await sql<{ past: boolean }>(shared.broker.databaseUrl, "select now() > to_timestamp($1) + interval '3 seconds' as past", [Number(firstExpiry)]))[0]!.past,
    { intervalMs: 200, what: "three lease lengths to pass by database time" },
  );
  const [row] = await sql<{ state: string; lease_token: string; lease_expire_time: Date }>(
    shared.broker.databaseUrl,
    "select state, lease_token, lease_expire_time from baton.jobs where id = $1",
    [job!.id],
  );
  expect(row!.state).toBe("leased");
  expect(row!.lease_token).toBe(delivery.leaseToken);
  expect(BigInt(Math.floor(row!.lease_expire_time.getTime() / 1000))).toBeGreaterThan(firstExpiry);

  stream.send({ case: "ack", value: { jobId: job!.id, leaseToken: delivery.leaseToken } });
  expect(await stream.next("settled")).toMatchObject({ ok: true });
  stream.close();
});

test("a job that always fails ends DEAD after max_attempts with its error, and the delays grow", async () => {
  const retrying = await startTestBroker({ broker: { retryPolicy: { baseDelaySeconds: 0.2, maxDelaySeconds: 60 } } });
  try {
    const { job } = await retrying.jobs.enqueueJob({ queue: "doomed", maxAttempts: 4 });
    const worker = spawnTs("test/fixtures/worker-process.ts", { BATON_URL: retrying.baseUrl, QUEUES: "doomed", MODE: "fail" });
    shared.processes.push(worker);
    await eventually(async () => (await retrying.jobs.getJob({ id: job!.id })).job!.state === JobState.DEAD, { what: "the failing job to be DEAD" });
    const dead = (await retrying.jobs.getJob({ id: job!.id })).job!;
    expect(dead.attempt).toBe(4);
    expect(dead.lastError).toBe("failing on purpose (attempt 4)");
    expect(dead.errors.map((e) => e.attempt)).toEqual([1, 2, 3, 4]);

    const starts = await sql<{ started: Date }>(
      retrying.databaseUrl,
      "select (e->>'time')::timestamptz as started from baton.jobs, jsonb_array_elements(errors) e where id = $1 order by (e->>'attempt')::int",
      [job!.id],
    );
    const gaps = starts.slice(1).map((s, i) => s.started.getTime() - starts[i]!.started.getTime());
    // Backoff with equal jitter: attempt n waits between base·2^(n-1)/2 and base·2^(n-1).
    expect(gaps[0]).toBeGreaterThanOrEqual(100);
    expect(gaps[1]).toBeGreaterThan(gaps[0]!);
    expect(gaps[2]).toBeGreaterThan(gaps[1]!);
    expect(worker.events.filter((e) => e.event === "start")).toHaveLength(4);
  } finally {
    await retrying.stop();
  }
});

test("an acked job frees its worker's slot before the ack commits, and a stuck ack holds back no other", async () => {
  const first = (await shared.broker.jobs.enqueueJob({ queue: "overlap", priority: 0 })).job!;
  const second = (await shared.broker.jobs.enqueueJob({ queue: "overlap", priority: 1 })).job!;
  const stream = openStream(shared.broker.workers, { case: "hello", value: { workerId: "w", queues: ["overlap"], maxInFlight: 1 } });
  const delivered = await stream.next("job");
  expect(delivered.job!.id).toBe(first.id);

  // The first job's row is locked elsewhere, so its ack cannot commit yet.
  const blocker = new pg.Client({ connectionString: shared.broker.databaseUrl });
  await blocker.connect();
  try {
    await blocker.query("begin");
    await blocker.query("select 1 from baton.jobs where id = $1 for update", [first.id]);
    stream.send({ case: "ack", value: { jobId: first.id, leaseToken: delivered.leaseToken } });
    stream.send({ case: "credit", value: { n: 1 } });
    const next = await stream.next("job");
    expect(next.job!.id).toBe(second.id);
    expect(stream.received.some((r) => r.message.case === "settled")).toBe(false);
    const [row] = await sql<{ state: string }>(shared.broker.databaseUrl, "select state::text from baton.jobs where id = $1", [first.id]);
    expect(row!.state).toBe("leased");
    // The stuck ack does not hold back the next one.
    stream.send({ case: "ack", value: { jobId: second.id, leaseToken: next.leaseToken } });
    expect(await stream.next("settled")).toMatchObject({ jobId: second.id, ok: true });
  } finally {
    await blocker.query("rollback");
    await blocker.end();
  }
  expect(await stream.next("settled")).toMatchObject({ jobId: first.id, ok: true });
  expect((await shared.broker.jobs.getJob({ id: first.id })).job!.state).toBe(JobState.SUCCEEDED);
  stream.close();
  await stream.ended;
});
