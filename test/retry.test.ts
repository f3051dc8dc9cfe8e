/**
 * RetryJob and RetryJobs over gRPC: dedup_key conflicts are refused with the holder named (and
 * skipped by the bulk retry, which revives the rest), and a retried dependant waits for its
 * blockers again.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { createDatabase } from "../src/store/database.js";
import { jobRetry } from "../src/store/jobs.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker();
});

afterAll(() => broker?.stop());

const get = async (id: string) => (await broker.jobs.getJob({ id })).job!;
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected the call to be refused");
    },
    (error: unknown) => ConnectError.from(error),
  );

/** Runs the next job of `queue` on a stream of its own and settles it: ack, or a dead-letter nack. */
async function settleNext(queue: string, outcome: "ack" | "dead"): Promise<string> {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: [queue], maxInFlight: 1 } });
  try {
    const { job, leaseToken } = await stream.next("job");
    stream.send(
      outcome === "ack"
        ? { case: "ack", value: { jobId: job!.id, leaseToken } }
        : { case: "nack", value: { jobId: job!.id, leaseToken, error: "broken", deadLetter: true } },
    );
    expect(await stream.next("settled")).toMatchObject({ jobId: job!.id, ok: true });
    return job!.id;
  } finally {
    stream.close();
  }
}

describe("dedup_key conflicts", () => {
  // Regression: the revived job broke the unique index on unfinished keys and the call
  // answered INTERNAL.
  test("RetryJob of a job whose dedup_key an unfinished job now holds: FAILED_PRECONDITION naming the holder", async () => {
    const { job: old } = await broker.jobs.enqueueJob({ queue: "retry-key", dedupKey: "invoice-7" });
    await broker.jobs.cancelJob({ id: old!.id });
    const { job: holder } = await broker.jobs.enqueueJob({ queue: "retry-key", dedupKey: "invoice-7" });
    const error = await refusal(broker.jobs.retryJob({ id: old!.id }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe(`job ${old!.id} cannot be retried: its dedup_key invoice-7 is held by job ${holder!.id}, which is available`);
    expect((await get(old!.id)).state).toBe(JobState.CANCELLED);
    // Once the holder finished, the key is free again.
    await broker.jobs.cancelJob({ id: holder!.id });
    expect((await broker.jobs.retryJob({ id: old!.id })).job!.state).toBe(JobState.AVAILABLE);
  });

  // Regression: one conflict failed the whole statement, so nothing at all was revived.
  test("RetryJobs skips and lists the jobs whose key is held, revives one of several sharing a key, and revives the rest", async () => {
    const queue = "retry-bulk-key";
    const { jobs } = await broker.jobs.enqueueJobs({
      jobs: [{ queue, dedupKey: "held" }, { queue }, { queue, dedupKey: "shared" }],
    });
    const [held, plain, sharedOld] = jobs.map((j) => j.id) as [string, string, string];
    for (const id of [held, plain, sharedOld]) await broker.jobs.cancelJob({ id });
    const { job: sharedNew } = await broker.jobs.enqueueJob({ queue, dedupKey: "shared" });
    await broker.jobs.cancelJob({ id: sharedNew!.id });
    const { job: holder } = await broker.jobs.enqueueJob({ queue, dedupKey: "held" });

    const response = await broker.jobs.retryJobs({ queue, state: JobState.CANCELLED });
    expect(response.count).toBe(2n);
    expect(response.skipped.map((s) => ({ id: s.id, reason: s.reason }))).toEqual([
      { id: held, reason: `its dedup_key held is held by job ${holder!.id}, which is available` },
      { id: sharedOld, reason: `job ${sharedNew!.id}, retried in the same call, has the same dedup_key shared` },
    ]);
    expect((await get(plain)).state).toBe(JobState.AVAILABLE);
    expect((await get(sharedNew!.id)).state).toBe(JobState.AVAILABLE);
    expect((await get(held)).state).toBe(JobState.CANCELLED);
    expect((await get(sharedOld)).state).toBe(JobState.CANCELLED);
  });

  test("a job that takes the key while the retry runs: the retry waits for it, then refuses with it named", async () => {
    const { job: old } = await broker.jobs.enqueueJob({ queue: "retry-key-race", dedupKey: "k" });
    await broker.jobs.cancelJob({ id: old!.id });
    // An enqueue of the same key, uncommitted: the retry's update waits on it in the unique index.
    const rival = new pg.Client({ connectionString: broker.databaseUrl });
    await rival.connect();
    const db = createDatabase({ url: broker.databaseUrl });
    try {
      await rival.query("begin");
      const [{ id: holder }] = (await rival.query<{ id: string }>("select baton.enqueue('retry-key-race', dedup_key => 'k') as id")).rows as [{ id: string }];
      const retrying = jobRetry(db, [old!.id]);
      let done = false;
      void retrying.finally(() => (done = true)).catch(() => {});
      await eventually(
        async () =>
          done ||
          (await sql(broker.databaseUrl, "select 1 from pg_stat_activity where wait_event_type = 'Lock' and query like '-- Revives the DEAD or CANCELLED jobs%'")).length > 0,
        { what: "the retry to wait for the uncommitted enqueue" },
      );
      await rival.query("commit");
      expect(await retrying).toEqual({
        revived: [],
        refused: [{ id: old!.id, reason: `its dedup_key k is held by job ${holder}, which is available` }],
      });
    } finally {
      await rival.end();
      await db.close();
    }
  });
});

describe("retrying a dependant", () => {
  // Regression: the retried dependant became AVAILABLE while its blocker was still DEAD.
  test("a dependant cancelled by a dead blocker goes back to BLOCKED, and runs once the blocker is retried and succeeds", async () => {
    const { job: blocker } = await broker.jobs.enqueueJob({ queue: "retry-dep-blocker", maxAttempts: 1 });
    const { job: done } = await broker.jobs.enqueueJob({ queue: "retry-dep-done" });
    await settleNext("retry-dep-done", "ack");
    const { job: dependant } = await broker.jobs.enqueueJob({ queue: "retry-dep", dependsOn: [blocker!.id, done!.id] });
    await settleNext("retry-dep-blocker", "dead");
    await eventually(async () => (await get(dependant!.id)).state === JobState.CANCELLED, { what: "the dependant to be cancelled" });

    const { job: retried } = await broker.jobs.retryJob({ id: dependant!.id });
    expect(retried).toMatchObject({ state: JobState.BLOCKED, attempt: 0 });
    expect(await sql(broker.databaseUrl, "select blocker_id from baton.job_dependencies where job_id = $1", [dependant!.id])).toEqual([
      { blocker_id: blocker!.id },
    ]);

    // The blocker dies again: the dependant is cancelled again, with the reason.
    await broker.jobs.retryJob({ id: blocker!.id });
    await settleNext("retry-dep-blocker", "dead");
    await eventually(async () => (await get(dependant!.id)).state === JobState.CANCELLED, { what: "the dependant to be cancelled again" });
    expect((await get(dependant!.id)).lastError).toBe(`blocker ${blocker!.id} ended dead`);

    // Both retried; the blocker succeeds; the dependant runs.
    expect((await broker.jobs.retryJob({ id: dependant!.id })).job!.state).toBe(JobState.BLOCKED);
    await broker.jobs.retryJob({ id: blocker!.id });
    await settleNext("retry-dep-blocker", "ack");
    expect(await settleNext("retry-dep", "ack")).toBe(dependant!.id);
  });

  test("a dependant whose blockers all succeeded becomes AVAILABLE", async () => {
    const { job: blocker } = await broker.jobs.enqueueJob({ queue: "retry-dep-ok-blocker" });
    const { job: dependant } = await broker.jobs.enqueueJob({ queue: "retry-dep-ok", dependsOn: [blocker!.id] });
    await broker.jobs.cancelJob({ id: dependant!.id });
    await settleNext("retry-dep-ok-blocker", "ack");
    expect((await broker.jobs.retryJob({ id: dependant!.id })).job!.state).toBe(JobState.AVAILABLE);
  });

  test("a dependant whose blocker no longer exists is refused with the blocker named; RetryJobs skips it", async () => {
    const { job: blocker } = await broker.jobs.enqueueJob({ queue: "retry-dep-gone-blocker" });
    const { job: dependant } = await broker.jobs.enqueueJob({ queue: "retry-dep-gone", dependsOn: [blocker!.id] });
    await broker.jobs.cancelJob({ id: blocker!.id });
    await eventually(async () => (await get(dependant!.id)).state === JobState.CANCELLED, { what: "the dependant to be cancelled" });
    // What retention does to a finished job.
    await sql(broker.databaseUrl, "delete from baton.jobs where id = $1", [blocker!.id]);
    const error = await refusal(broker.jobs.retryJob({ id: dependant!.id }));
    expect(error.code).toBe(Code.FailedPrecondition);
    expect(error.rawMessage).toBe(`job ${dependant!.id} cannot be retried: it depends on job ${blocker!.id}, which no longer exists`);
    const bulk = await broker.jobs.retryJobs({ queue: "retry-dep-gone", state: JobState.CANCELLED });
    expect(bulk.count).toBe(0n);
    expect(bulk.skipped.map((s) => s.id)).toEqual([dependant!.id]);
  });

  test("RetryJobs revives a blocker and its dependant together: the dependant waits for the blocker", async () => {
    const queue = "retry-dep-together";
    const { job: blocker } = await broker.jobs.enqueueJob({ queue });
    const { job: dependant } = await broker.jobs.enqueueJob({ queue, dependsOn: [blocker!.id] });
    await broker.jobs.cancelJob({ id: blocker!.id });
    await eventually(async () => (await get(dependant!.id)).state === JobState.CANCELLED, { what: "the dependant to be cancelled" });
    expect((await broker.jobs.retryJobs({ queue, state: JobState.CANCELLED })).count).toBe(2n);
    expect((await get(blocker!.id)).state).toBe(JobState.AVAILABLE);
    expect((await get(dependant!.id)).state).toBe(JobState.BLOCKED);
    expect(await settleNext(queue, "ack")).toBe(blocker!.id);
    expect(await settleNext(queue, "ack")).toBe(dependant!.id);
  });
});
