/**
 * The batched form of the worker protocol, message by message: jobs arrive in `jobs` batches of
 * lean jobs, one `settle` carries many outcomes and each is fenced on its own, credit comes
 * back with each settlement, and `drain` stops the deliveries.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobState, JobView } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import type { SubscribeResponse_JobDelivery } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ maxInFlight: 50 });
});

afterAll(async () => {
  await broker?.stop();
});

function batchedStream(queue: string, maxInFlight: number): TestStream {
  return openStream(broker.workers, {
    case: "hello",
    value: { workerId: "batched", queues: [queue], maxInFlight, batch: true, creditOnSettle: true, leanJobs: true },
  });
}

/** Deliveries from `jobs` messages until `count` have arrived. */
async function deliveries(stream: TestStream, count: number): Promise<SubscribeResponse_JobDelivery[]> {
  const got: SubscribeResponse_JobDelivery[] = [];
  while (got.length < count) got.push(...(await stream.next("jobs")).deliveries);
  return got;
}

async function states(ids: string[]): Promise<Record<string, string>> {
  const rows = await sql<{ id: string; state: string }>(broker.databaseUrl, "select id::text, state::text from baton.jobs where id = any($1::bigint[])", [ids]);
  return Object.fromEntries(rows.map((row) => [row.id, row.state]));
}

describe("the batched worker stream", () => {
  test("delivers lean jobs in batches, each with its lease and the attempt's traceparent", async () => {
    const stream = batchedStream("batched-lean", 10);
    await stream.next("welcome");
    const { jobIds } = await broker.jobs.enqueueJobs({
      jobs: Array.from({ length: 5 }, (_, i) => ({ queue: "batched-lean", payload: Buffer.from(`{"i":${i}}`), headers: { tenant: "t1" }, priority: 3 })),
      view: JobView.ID,
    });
    const got = await deliveries(stream, 5);
    expect(got.map((d) => d.job!.id).sort()).toEqual([...jobIds].sort());
    for (const delivery of got) {
      const job = delivery.job!;
      expect(job).toMatchObject({ queue: "batched-lean", priority: 3, attempt: 1, maxAttempts: 25, chainId: job.id, parentId: "" });
      expect(Buffer.from(job.payload).toString()).toMatch(/^\{"i":\d\}$/);
      expect(job.headers.tenant).toBe("t1");
      expect(job.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
      // Lean: what a handler does not need is left out.
      expect(job.state).toBe(JobState.UNSPECIFIED);
      expect(job.createTime).toBeUndefined();
      expect(delivery.leaseToken).toMatch(/^[0-9a-f-]{36}$/);
      expect(delivery.leaseExpireTime).toBeDefined();
    }
    stream.close();
    await stream.ended;
  });

  test("one settle: good acks and a nack commit, a stale lease and a malformed id are refused alone", async () => {
    const stream = batchedStream("batched-settle", 10);
    await stream.next("welcome");
    await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 4 }, () => ({ queue: "batched-settle" })) });
    const [a, b, c, d] = await deliveries(stream, 4);
    stream.send({
      case: "settle",
      value: {
        acks: [
          { jobId: a!.job!.id, leaseToken: a!.leaseToken },
          { jobId: b!.job!.id, leaseToken: b!.leaseToken },
          // Someone else's lease on a job this stream holds: refused, the job stays leased.
          { jobId: c!.job!.id, leaseToken: "00000000-0000-4000-8000-000000000000" },
          { jobId: "not-a-number", leaseToken: d!.leaseToken },
        ],
        nacks: [{ jobId: d!.job!.id, leaseToken: d!.leaseToken, error: "boom" }],
      },
    });
    const answers = { committed: [] as string[], refused: new Map<string, string>() };
    while (answers.committed.length + answers.refused.size < 5) {
      const batch = await stream.next("settledBatch");
      answers.committed.push(...batch.committed);
      for (const refusal of batch.refused) answers.refused.set(refusal.jobId, refusal.error);
    }
    expect(answers.committed.sort()).toEqual([a!.job!.id, b!.job!.id, d!.job!.id].sort());
    expect(answers.refused.get(c!.job!.id)).toMatch(/lease/);
    expect(answers.refused.get("not-a-number")).toMatch(/settle\.acks\[3\]\.job_id/);
    expect(await states([a!.job!.id, b!.job!.id, c!.job!.id, d!.job!.id])).toEqual({
      [a!.job!.id]: "succeeded",
      [b!.job!.id]: "succeeded",
      [c!.job!.id]: "leased",
      [d!.job!.id]: "available",
    });
    stream.close();
    await stream.ended;
  });

  test("credit comes back with each settled job: more jobs than max_in_flight flow without a credit message", async () => {
    const stream = batchedStream("batched-credit", 3);
    await stream.next("welcome");
    const { jobIds } = await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 9 }, () => ({ queue: "batched-credit" })), view: JobView.ID });
    const seen = new Set<string>();
    while (seen.size < jobIds.length) {
      const batch = await stream.next("jobs");
      expect(batch.deliveries.length).toBeLessThanOrEqual(3);
      for (const delivery of batch.deliveries) seen.add(delivery.job!.id);
      stream.send({ case: "settle", value: { acks: batch.deliveries.map((d) => ({ jobId: d.job!.id, leaseToken: d.leaseToken })) } });
    }
    await eventually(async () => Object.values(await states(jobIds)).every((state) => state === "succeeded"), { what: "every job acked" });
    stream.close();
    await stream.ended;
  });

  test("drain stops the deliveries; the jobs go to another stream", async () => {
    const draining = batchedStream("batched-drain", 5);
    await draining.next("welcome");
    draining.send({ case: "drain", value: {} });
    await eventually(() => broker.server.broker.listSessions().some((s) => s.workerId === "batched" && s.freeCredit === 0), {
      what: "the draining stream to take no more jobs",
    });
    const { jobIds } = await broker.jobs.enqueueJobs({ jobs: [{ queue: "batched-drain" }], view: JobView.ID });
    const other = batchedStream("batched-drain", 5);
    await other.next("welcome");
    const [delivery] = await deliveries(other, 1);
    expect(delivery!.job!.id).toBe(jobIds[0]);
    expect(draining.received.filter((r) => r.message.case === "jobs")).toHaveLength(0);
    draining.close();
    other.close();
    await Promise.all([draining.ended, other.ended]);
  });

  test("while its settlements cannot commit, a stream holds at most twice max_in_flight leases", async () => {
    const stream = openStream(broker.workers, {
      case: "hello",
      value: { workerId: "stuck-settlements", queues: ["batched-held"], maxInFlight: 2, batch: true, creditOnSettle: true, leanJobs: true },
    });
    await stream.next("welcome");
    const { jobIds } = await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 8 }, () => ({ queue: "batched-held" })), view: JobView.ID });
    const session = () => broker.server.broker.listSessions().find((s) => s.workerId === "stuck-settlements")!;
    // Each batch's rows are locked elsewhere before it is acked, so no ack can commit.
    const blocker = new pg.Client({ connectionString: broker.databaseUrl });
    await blocker.connect();
    const got: SubscribeResponse_JobDelivery[] = [];
    try {
      await blocker.query("begin");
      while (got.length < 4) {
        const batch = await deliveries(stream, 1);
        await blocker.query("select 1 from baton.jobs where id = any($1::bigint[]) for update", [batch.map((d) => d.job!.id)]);
        stream.send({ case: "settle", value: { acks: batch.map((d) => ({ jobId: d.job!.id, leaseToken: d.leaseToken })) } });
        got.push(...batch);
      }
      // Nothing runs on the stream, but its four leases wait for their acks to commit.
      await eventually(() => session().running === 0 && session().held.size === 4, { what: "four acks in flight" });
      expect(session().freeCredit).toBe(0);
      expect(Object.values(await states(jobIds)).filter((state) => state === "available")).toHaveLength(4);
    } finally {
      await blocker.query("rollback");
      await blocker.end();
    }
    // Once they commit, the rest flows.
    while (got.length < jobIds.length) {
      const batch = await deliveries(stream, 1);
      stream.send({ case: "settle", value: { acks: batch.map((d) => ({ jobId: d.job!.id, leaseToken: d.leaseToken })) } });
      got.push(...batch);
    }
    expect(new Set(got.map((d) => d.job!.id))).toEqual(new Set(jobIds));
    stream.close();
    await stream.ended;
  });

  test("a settle with more entries than any stream could hold ends the stream with INVALID_ARGUMENT", async () => {
    const stream = batchedStream("batched-flood", 1);
    await stream.next("welcome");
    const acks = Array.from({ length: 201 }, (_, i) => ({ jobId: String(i + 1), leaseToken: "00000000-0000-4000-8000-000000000000" }));
    stream.send({ case: "settle", value: { acks } });
    const error = await stream.ended;
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    expect((error as ConnectError).rawMessage).toMatch(/settle carries 201 entries; the limit is 200/);
  });
});
