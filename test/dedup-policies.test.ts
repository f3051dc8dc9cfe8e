/**
 * EnqueueJobRequest.dedup_policy over real sockets, on two brokers sharing one database: what
 * REPLACE and DEBOUNCE do to the waiting job that holds a key, and what they never touch (a
 * running job, a finished one).
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { DedupPolicy, JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startReplicas, stopAll } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";
import { refusal } from "./helpers/errors.js";

let broker: TestBroker;
let replica: TestBroker;

beforeAll(async () => {
  [broker, replica] = (await startReplicas(2)) as [TestBroker, TestBroker];
});

afterAll(() => stopAll([broker, replica]));

const text = (payload: Uint8Array) => Buffer.from(payload).toString();
const bytes = (value: string) => new TextEncoder().encode(value);
const { REPLACE, DEBOUNCE, KEEP } = DedupPolicy;

/** The unfinished jobs that hold `key` on `queue`, as the database has them. */
const holders = (queue: string, key: string) =>
  sql<{ id: string; payload: Buffer }>(
    broker.databaseUrl,
    "select id::text, payload from baton.jobs where queue = $1 and dedup_key = $2 and state in ('available', 'blocked', 'leased')",
    [queue, key],
  );

test("REPLACE under concurrent enqueues on two brokers leaves one job with the payload of the last enqueue to commit", async () => {
  // Every write of the key's row, with the payload it overwrote: the versions form one line
  // from the insert to the last commit only if no enqueue overwrote a version that another had
  // already replaced (a lost update) and none was skipped.
  await sql(
    broker.databaseUrl,
    `create table public.storm_writes (overwrote bytea, payload bytea not null);
     create function public.record_storm_write() returns trigger language plpgsql as $$
     begin
       insert into public.storm_writes values (case when tg_op = 'UPDATE' then old.payload end, new.payload);
       return null;
     end $$;
     create trigger record_storm_write after insert or update of payload on baton.jobs
       for each row when (new.queue = 'storm') execute function public.record_storm_write();`,
  );
  const count = 60;
  const sent = Array.from({ length: count }, (_, i) => `payload-${i}`);
  const responses = await Promise.all(
    sent.map((payload, i) =>
      (i % 2 === 0 ? broker : replica).jobs.enqueueJob({ queue: "storm", dedupKey: "k", dedupPolicy: REPLACE, payload: bytes(payload) }),
    ),
  );

  const unfinished = await holders("storm", "k");
  expect(unfinished).toHaveLength(1);
  const [job] = unfinished;
  expect(responses.every((r) => r.job!.id === job!.id)).toBe(true);
  expect(responses.filter((r) => !r.deduplicated)).toHaveLength(1);
  // Each enqueue answers with the job as its own write left it.
  expect(responses.map((r) => text(r.job!.payload))).toEqual(sent);

  const writes = await sql<{ overwrote: Buffer | null; payload: Buffer }>(broker.databaseUrl, "select overwrote, payload from public.storm_writes");
  expect(writes).toHaveLength(count);
  const next = new Map(writes.map((w) => [w.overwrote === null ? null : text(w.overwrote), text(w.payload)]));
  expect(next.size).toBe(count);
  const line: string[] = [];
  for (let version = next.get(null); version !== undefined; version = next.get(version)) line.push(version);
  expect(line.toSorted()).toEqual(sent.toSorted());
  expect(text(job!.payload)).toBe(line.at(-1));
});

test("REPLACE racing a worker that runs the jobs: a job never changes once leased", async () => {
  const delivered = new Map<string, string>();
  const stream = openStream(replica.workers, { case: "hello", value: { workerId: "racer", queues: ["raced"], maxInFlight: 1 } });
  const working = (async () => {
    for (;;) {
      const delivery = await stream.next("job").catch(() => undefined);
      if (!delivery) return;
      delivered.set(delivery.job!.id, text(delivery.job!.payload));
      stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
      stream.send({ case: "credit", value: { n: 1 } });
    }
  })();
  await stream.next("welcome");
  const sent = Array.from({ length: 60 }, (_, i) => `payload-${i}`);
  await Promise.all(
    sent.map((payload, i) =>
      (i % 2 === 0 ? broker : replica).jobs.enqueueJob({ queue: "raced", dedupKey: "k", dedupPolicy: REPLACE, payload: bytes(payload) }),
    ),
  );
  await eventually(async () => (await holders("raced", "k")).length === 0, { what: "the worker to run every job of the key" });
  stream.close();
  await working;

  const finished = await sql<{ id: string; payload: Buffer; state: string }>(
    broker.databaseUrl,
    // By the bigint: ordered by the text column, "115" would come before "61".
    "select j.id::text, j.payload, j.state::text from baton.jobs j where j.queue = 'raced' order by j.id",
  );
  expect(finished.every((job) => job.state === "succeeded")).toBe(true);
  // What each worker attempt received is what the job ended with: nothing replaced it once leased.
  expect(finished.map((job) => [job.id, text(job.payload)])).toEqual([...delivered].sort(([a], [b]) => Number(a) - Number(b)));
});

test("the same key twice in one batch: the later REPLACE wins, the first request creates the job", async () => {
  const { jobs, deduplicated } = await broker.jobs.enqueueJobs({
    jobs: [
      { queue: "batch", dedupKey: "twice", dedupPolicy: REPLACE, payload: bytes("first") },
      { queue: "batch", payload: bytes("no key") },
      { queue: "batch", dedupKey: "twice", dedupPolicy: REPLACE, payload: bytes("second") },
      { queue: "batch", dedupKey: "other", payload: bytes("kept") },
    ],
  });
  expect(deduplicated).toEqual([false, false, true, false]);
  expect(jobs[0]!.id).toBe(jobs[2]!.id);
  expect(jobs.map((j) => text(j.payload))).toEqual(["second", "no key", "second", "kept"]);
  expect((await holders("batch", "twice")).map((j) => text(j.payload))).toEqual(["second"]);
});

test("a batch's requests of one key act one after another: the last REPLACE's payload, the last run time", async () => {
  const { job: waiting } = await broker.jobs.enqueueJob({ queue: "fold", dedupKey: "f", payload: bytes("old") });
  const later = Date.parse("2099-01-01T00:00:00Z");
  const { jobs, deduplicated } = await replica.jobs.enqueueJobs({
    jobs: [
      { queue: "fold", dedupKey: "f", dedupPolicy: REPLACE, payload: bytes("replaced") },
      { queue: "fold", dedupKey: "f", dedupPolicy: KEEP, payload: bytes("kept out") },
      { queue: "fold", dedupKey: "f", dedupPolicy: DEBOUNCE, payload: bytes("debounced"), start: { case: "runTime", value: timestampFromMs(later) } },
    ],
  });
  expect(deduplicated).toEqual([true, true, true]);
  for (const job of jobs) expect(job).toMatchObject({ id: waiting!.id, state: JobState.SCHEDULED, payload: bytes("replaced"), runTime: timestampFromMs(later) });
});

test("DEBOUNCE moves only the run time of the waiting job; REPLACE also its payload", async () => {
  const [t1, t2, t3] = ["2098-01-01T00:00:00Z", "2098-06-01T00:00:00Z", "2098-03-01T00:00:00Z"].map((t) => timestampFromMs(Date.parse(t)));
  const { job: created } = await broker.jobs.enqueueJob({
    queue: "debounce",
    dedupKey: "d",
    payload: bytes("original"),
    headers: { tenant: "a" },
    priority: 3,
    start: { case: "runTime", value: t1! },
  });
  const debounced = await replica.jobs.enqueueJob({
    queue: "debounce",
    dedupKey: "d",
    dedupPolicy: DEBOUNCE,
    payload: bytes("ignored"),
    priority: 9,
    start: { case: "runTime", value: t2! },
  });
  expect(debounced.deduplicated).toBe(true);
  expect(debounced.job).toMatchObject({ id: created!.id, payload: bytes("original"), runTime: t2, priority: 3, headers: { tenant: "a" } });

  const replaced = await broker.jobs.enqueueJob({ queue: "debounce", dedupKey: "d", dedupPolicy: REPLACE, payload: bytes("new"), start: { case: "runTime", value: t3! } });
  expect(replaced.job).toMatchObject({ id: created!.id, payload: bytes("new"), runTime: t3, priority: 3, headers: { tenant: "a" } });
  expect((await broker.jobs.getJob({ id: created!.id })).job).toMatchObject({ payload: bytes("new"), runTime: t3 });
});

test("a running job is never altered: REPLACE and DEBOUNCE are deduplicated to it, as KEEP is", async () => {
  const { job: created } = await broker.jobs.enqueueJob({ queue: "running", dedupKey: "r", payload: bytes("as enqueued") });
  const stream = openStream(replica.workers, { case: "hello", value: { workerId: "w", queues: ["running"], maxInFlight: 1 } });
  const delivery = await stream.next("job");
  expect(delivery.job!.id).toBe(created!.id);

  const future = timestampFromMs(Date.parse("2099-01-01T00:00:00Z"));
  for (const dedupPolicy of [REPLACE, DEBOUNCE]) {
    const answer = await broker.jobs.enqueueJob({ queue: "running", dedupKey: "r", dedupPolicy, payload: bytes("too late"), start: { case: "runTime", value: future } });
    expect(answer.deduplicated).toBe(true);
    expect(answer.job).toMatchObject({ id: created!.id, state: JobState.LEASED, payload: bytes("as enqueued"), runTime: created!.runTime });
  }
  const stored = (await broker.jobs.getJob({ id: created!.id })).job!;
  expect(stored).toMatchObject({ state: JobState.LEASED, payload: bytes("as enqueued"), runTime: created!.runTime });

  // Once it finished, the key is free: REPLACE creates a new job, and the finished one stays as it was.
  stream.send({ case: "ack", value: { jobId: created!.id, leaseToken: delivery.leaseToken } });
  expect(await stream.next("settled")).toMatchObject({ ok: true });
  const after = await broker.jobs.enqueueJob({ queue: "running", dedupKey: "r", dedupPolicy: REPLACE, payload: bytes("next run") });
  expect(after.deduplicated).toBe(false);
  expect(after.job!.id).not.toBe(created!.id);
  expect(text(after.job!.payload)).toBe("next run");
  expect((await broker.jobs.getJob({ id: created!.id })).job).toMatchObject({ state: JobState.SUCCEEDED, payload: bytes("as enqueued") });
  stream.close();
});

test("a finished job within the dedup window deduplicates REPLACE unaltered; a waiting one is replaced first", async () => {
  const { job: done } = await broker.jobs.enqueueJob({ queue: "window", dedupKey: "w", payload: bytes("done") });
  await broker.jobs.cancelJob({ id: done!.id });
  const window = { seconds: 3600n, nanos: 0 };
  const answer = await replica.jobs.enqueueJob({ queue: "window", dedupKey: "w", dedupWindow: window, dedupPolicy: REPLACE, payload: bytes("x") });
  expect(answer).toMatchObject({ deduplicated: true, job: { id: done!.id, state: JobState.CANCELLED, payload: bytes("done") } });

  const { job: waiting } = await broker.jobs.enqueueJob({ queue: "window", dedupKey: "w", payload: bytes("waiting") });
  const replaced = await replica.jobs.enqueueJob({ queue: "window", dedupKey: "w", dedupWindow: window, dedupPolicy: REPLACE, payload: bytes("y") });
  expect(replaced).toMatchObject({ deduplicated: true, job: { id: waiting!.id, state: JobState.AVAILABLE, payload: bytes("y") } });
});

test("REPLACE on a BLOCKED job replaces its payload and keeps its blockers", async () => {
  const { job: blocker } = await broker.jobs.enqueueJob({ queue: "blocker-of-replaced" });
  const { job: blocked } = await broker.jobs.enqueueJob({ queue: "blocked", dedupKey: "b", dependsOn: [blocker!.id], payload: bytes("before") });
  const replaced = await replica.jobs.enqueueJob({ queue: "blocked", dedupKey: "b", dedupPolicy: REPLACE, payload: bytes("after") });
  expect(replaced).toMatchObject({
    deduplicated: true,
    job: { id: blocked!.id, state: JobState.BLOCKED, dependsOn: [blocker!.id], payload: bytes("after") },
  });
});

test("dedup_policy is refused when it is no DedupPolicy or has no dedup_key", async () => {
  const unknown = await refusal(broker.jobs.enqueueJob({ queue: "bad", dedupKey: "k", dedupPolicy: 7 as DedupPolicy }));
  expect(unknown.code).toBe(Code.InvalidArgument);
  expect(unknown.rawMessage).toBe("dedup_policy 7 is not a DedupPolicy (use DEDUP_POLICY_KEEP, _REPLACE or _DEBOUNCE)");
  for (const dedupPolicy of [KEEP, REPLACE, DEBOUNCE]) {
    const keyless = await refusal(broker.jobs.enqueueJob({ queue: "bad", dedupPolicy }));
    expect(keyless.code).toBe(Code.InvalidArgument);
    expect(keyless.rawMessage).toBe("dedup_policy needs a dedup_key");
  }
  const inBatch = await refusal(broker.jobs.enqueueJobs({ jobs: [{ queue: "bad" }, { queue: "bad", dedupPolicy: REPLACE }] }));
  expect(inBatch.rawMessage).toBe("jobs[1].dedup_policy needs a dedup_key");
  expect((await broker.jobs.listJobs({ queue: "bad" })).jobs).toEqual([]);
});
