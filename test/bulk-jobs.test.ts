/**
 * CancelJobs and DeleteJobs by filter on two replicas while workers run: every waiting job the
 * filter matches is cancelled, running ones are asked to stop, nothing running is deleted,
 * calling again changes nothing, and concurrent callers count each job once.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { BULK_BATCH_SIZE } from "../src/broker/broker.js";
import { type TestBroker, startReplicas, stopAll } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let brokers: TestBroker[];

beforeAll(async () => {
  brokers = await startReplicas(2);
});

afterAll(() => stopAll(brokers));

/** `count` jobs on `queue` with the header batch=`batch`, enqueued in calls of 2,000. */
async function enqueueBatch(queue: string, batch: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let done = 0; done < count; done += 2_000) {
    const jobs = Array.from({ length: Math.min(2_000, count - done) }, () => ({ queue, headers: { batch } }));
    ids.push(...(await brokers[0]!.jobs.enqueueJobs({ jobs })).jobs.map((job) => job.id));
  }
  return ids;
}

/** How many jobs with the header batch=`batch` are in each state. */
async function statesOf(batch: string): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; n: number }>(
    brokers[0]!.databaseUrl,
    "select state::text, count(*)::int as n from baton.jobs where headers @> jsonb_build_object('batch', $1::text) group by state",
    [batch],
  );
  return Object.fromEntries(rows.map((row) => [row.state, row.n]));
}

/** A worker on `broker` that acks every job it gets, until closed. */
function ackingWorker(broker: TestBroker, queue: string, name: string) {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: name, queues: [queue], maxInFlight: 20, creditOnSettle: true } });
  const running = (async () => {
    for (;;) {
      const { job, leaseToken } = await stream.next("job");
      stream.send({ case: "ack", value: { jobId: job!.id, leaseToken } });
    }
  })().catch(() => {}); // ends when the stream is closed
  const settled = () => stream.received.flatMap(({ message }) => (message.case === "settled" ? [message.value] : []));
  return {
    acked: () => settled().filter((settlement) => settlement.ok).length,
    /** Acks the broker refused: jobs the worker no longer held. */
    refused: () => settled().flatMap((settlement) => (settlement.ok ? [] : [settlement.jobId])),
    close: async () => {
      stream.close();
      await running;
    },
  };
}

describe("CancelJobs and DeleteJobs", () => {
  test(`a bulk cancel of 10,000 jobs by header while workers run, in batches of ${BULK_BATCH_SIZE}; a bulk delete leaves running jobs alone`, async () => {
    const [a, b] = brokers as [TestBroker, TestBroker];
    const ids = await enqueueBatch("bulk-cancel", "b1", 10_000);
    const others = await enqueueBatch("bulk-cancel", "b2", 200);
    // A worker on replica a holds five jobs without settling them: they are running when the cancel comes.
    const holder = openStream(a.workers, { case: "hello", value: { workerId: "holder", queues: ["bulk-cancel"], maxInFlight: 5 } });
    const held = await Promise.all(Array.from({ length: 5 }, () => holder.next("job")));
    // Another, on replica b, works through the queue meanwhile.
    const acker = ackingWorker(b, "bulk-cancel", "acker");
    await eventually(() => acker.acked() > 0, { what: "the acking worker to settle a job" });

    // The oldest jobs go first: the held ones are of b1.
    expect(ids).toEqual(expect.arrayContaining(held.map(({ job }) => job!.id)));

    const { cancelled, cancelRequested } = await b.jobs.cancelJobs({ filter: { headers: { batch: "b1" } } });
    expect(Number(cancelled)).toBeGreaterThan(0);
    // Every job of b1 that waited is cancelled; the held ones are asked to stop, and told.
    const after = await statesOf("b1");
    expect(after.available ?? 0).toBe(0);
    expect(after.cancelled).toBe(Number(cancelled));
    for (const { job } of held) {
      expect((await a.jobs.getJob({ id: job!.id })).job).toMatchObject({ state: JobState.LEASED, cancelRequested: true });
    }
    expect(Number(cancelRequested)).toBeGreaterThanOrEqual(held.length);
    const told = await Promise.all(held.map(() => holder.next("cancel")));
    expect(told.map((cancel) => cancel.jobId).sort()).toEqual(held.map(({ job }) => job!.id).sort());
    // The other batch is untouched.
    expect((await statesOf("b2")).cancelled ?? 0).toBe(0);
    // Again: nothing left to change.
    expect(await a.jobs.cancelJobs({ filter: { headers: { batch: "b1" } } })).toMatchObject({ cancelled: 0n, cancelRequested: 0n });

    // Once the acking worker has finished b2 and b1's running jobs, only the held jobs run.
    await eventually(async () => (await statesOf("b2")).succeeded === others.length, { what: "the acking worker to finish batch b2" });
    await eventually(async () => (await statesOf("b1")).leased === held.length, { what: "b1's jobs on the acking worker to finish" });
    const { count } = await a.jobs.deleteJobs({ filter: { queue: "bulk-cancel" } });
    expect(Number(count)).toBe(ids.length + others.length - held.length);
    for (const { job } of held) expect((await b.jobs.getJob({ id: job!.id })).job!.state).toBe(JobState.LEASED);
    expect(await b.jobs.deleteJobs({ filter: { queue: "bulk-cancel" } })).toMatchObject({ count: 0n });
    expect(acker.refused()).toEqual([]);
    holder.close();
    await acker.close();
  });

  test("a bulk delete racing workers never deletes a job a worker holds: every ack succeeds, and what is left was acked", async () => {
    const [a, b] = brokers as [TestBroker, TestBroker];
    const total = 3_000;
    await enqueueBatch("bulk-delete", "d1", total);
    const workers = [ackingWorker(a, "bulk-delete", "acker-a"), ackingWorker(b, "bulk-delete", "acker-b")];
    await eventually(() => workers.some((worker) => worker.acked() > 0), { what: "a worker to settle a job" });
    // Waiting and finished jobs go; the ones the workers hold stay, and are acked.
    const deleted = Number((await b.jobs.deleteJobs({ filter: { headers: { batch: "d1" } } })).count);
    expect(deleted).toBeGreaterThan(0);
    await eventually(async () => (await statesOf("d1")).succeeded === total - deleted, { what: "the jobs left to be acked" });
    expect(await statesOf("d1")).toEqual({ succeeded: total - deleted });
    for (const worker of workers) await worker.close();
    // An ack of a job deleted while its worker held it would have been refused.
    expect(workers.flatMap((worker) => worker.refused())).toEqual([]);
  });

  test("two replicas cancelling the same jobs at once: each job is counted once, by one of them", async () => {
    const [a, b] = brokers as [TestBroker, TestBroker];
    const total = 3_000;
    await enqueueBatch("bulk-race", "r1", total);
    const filter = { headers: { batch: "r1" } };
    const [first, second] = await Promise.all([a.jobs.cancelJobs({ filter }), b.jobs.cancelJobs({ filter })]);
    expect(first.cancelled + second.cancelled).toBe(BigInt(total));
    expect(await statesOf("r1")).toEqual({ cancelled: total });
  });
});
