/**
 * JobUpsertMany (dedup_policy REPLACE and DEBOUNCE) against PostgreSQL directly: with time
 * injected, and raced by hand against the claim and the ack of the job that holds the key.
 */
import type pg from "pg";
import { describe, expect, test } from "vitest";
import type { InsertedJob } from "../src/store/jobs.js";
import { jobAckMany, jobClaim, jobGet, jobInsertMany, jobRenewMany } from "../src/store/jobs.js";
import { spanExporterSeen } from "../src/store/telemetry.js";
import { sql } from "./helpers/database.js";
import { interleaved, openTransaction, settledOrBlocked } from "./helpers/interleave.js";
import { newJob as job, useStoreDatabase } from "./helpers/store.js";

const store = useStoreDatabase();

const T0 = new Date("2030-01-01T00:00:00Z");
const bytes = (value: string) => Buffer.from(value);
const claimOn = (db: pg.Client | typeof store.db, queue: string) => jobClaim(db, { queues: [queue], limit: 10, leaseSeconds: 30, owner: "replica-a", now: T0 });
const replace = (db: pg.Client | typeof store.db, queue: string, payload: string) =>
  jobInsertMany(db, [job(queue, { dedupKey: "k", dedupPolicy: "replace", payload: bytes(payload) })], { now: T0 });

describe("time", () => {
  test("DEBOUNCE moves the waiting job's run time to its own delay from now; the payload stays", async () => {
    const [created] = await jobInsertMany(store.db, [job("t-debounce", { dedupKey: "k", payload: bytes("a"), delaySeconds: 60 })], { now: T0 });
    const [debounced] = await jobInsertMany(store.db, [job("t-debounce", { dedupKey: "k", dedupPolicy: "debounce", payload: bytes("b"), delaySeconds: 600 })], {
      now: T0,
    });
    expect(debounced).toMatchObject({ deduplicated: true, job: { id: created!.job.id, payload: bytes("a"), scheduled: true } });
    expect(debounced!.job.runTime).toEqual(new Date(T0.getTime() + 600_000));
  });

  test("REPLACE without a run time makes the waiting job due now", async () => {
    await jobInsertMany(store.db, [job("t-replace", { dedupKey: "k", delaySeconds: 3600 })], { now: T0 });
    const [replaced] = await replace(store.db, "t-replace", "now");
    expect(replaced!.job).toMatchObject({ runTime: T0, scheduled: false, payload: bytes("now") });
  });
});

describe("trace", () => {
  test("a replaced job keeps its trace and its one send span: the replacing enqueue writes no span", async () => {
    await spanExporterSeen(store.db, "replica-1");
    const traceparent = (trace: string) => `00-${trace.repeat(32)}-${"1".repeat(16)}-01`;
    const [created] = await jobInsertMany(store.db, [job("s-trace", { dedupKey: "k", headers: { traceparent: traceparent("a") } })]);
    const [replaced] = await jobInsertMany(store.db, [
      job("s-trace", { dedupKey: "k", dedupPolicy: "replace", payload: bytes("new"), headers: { traceparent: traceparent("b") } }),
    ]);
    expect(replaced!.job).toMatchObject({ id: created!.job.id, traceId: created!.job.traceId, headers: { traceparent: traceparent("a") } });
    const spans = await sql(store.url, "select operation from baton.span_outbox where job_id = $1", [created!.job.id]);
    expect(spans).toEqual([{ operation: "send" }]);
  });
});

describe("races with the holder's own transitions", () => {
  test("a claim that commits first wins: the REPLACE waiting on its row finds a running job and leaves it", async () => {
    const [created] = await jobInsertMany(store.db, [job("r-claim", { dedupKey: "k", payload: bytes("original") })], { now: T0 });
    let answer: InsertedJob[] = [];
    await interleaved(
      store.url,
      (tx) => claimOn(tx, "r-claim"),
      async (tx) => (answer = await replace(tx, "r-claim", "late")),
    );
    expect(answer[0]).toMatchObject({ deduplicated: true, job: { id: created!.job.id, state: "leased", payload: bytes("original") } });
    expect(await jobGet(store.db, created!.job.id)).toMatchObject({ state: "leased", payload: bytes("original") });
  });

  test("a REPLACE that holds the row first is skipped by the claim, which then gets the new payload", async () => {
    await jobInsertMany(store.db, [job("r-first", { dedupKey: "k", payload: bytes("original") })], { now: T0 });
    let skipped = -1;
    await interleaved(
      store.url,
      (tx) => replace(tx, "r-first", "replaced"),
      async (tx) => (skipped = (await claimOn(tx, "r-first")).jobs.length),
    );
    expect(skipped).toBe(0);
    const { jobs } = await claimOn(store.db, "r-first");
    expect(jobs.map((j) => Buffer.from(j.payload).toString())).toEqual(["replaced"]);
  });

  test("an ack that commits first frees the key: the REPLACE waiting on the row creates a new job", async () => {
    const [created] = await jobInsertMany(store.db, [job("r-ack", { dedupKey: "k", payload: bytes("original") })], { now: T0 });
    const { jobs } = await claimOn(store.db, "r-ack");
    let answer: InsertedJob[] = [];
    await interleaved(
      store.url,
      (tx) => jobAckMany(tx, [{ jobId: jobs[0]!.id, leaseToken: jobs[0]!.leaseToken, result: new Uint8Array() }], T0),
      async (tx) => (answer = await replace(tx, "r-ack", "next")),
    );
    expect(answer[0]).toMatchObject({ deduplicated: false, job: { state: "available", payload: bytes("next") } });
    expect(answer[0]!.job.id).not.toBe(created!.job.id);
    expect(await jobGet(store.db, created!.job.id)).toMatchObject({ state: "succeeded", payload: bytes("original") });
  });

  test("holders are locked in id order, as renewals lock them: a batch REPLACE and a renewal of two running jobs do not deadlock", async () => {
    // "k-b" gets the lower id; in key order "k-a" would be locked first.
    await jobInsertMany(store.db, [job("r-order", { dedupKey: "k-b" }), job("r-order", { dedupKey: "k-a" })], { now: T0 });
    const { jobs } = await claimOn(store.db, "r-order");
    const [low, high] = jobs.map((j) => ({ jobId: j.id, leaseToken: j.leaseToken })).sort((a, b) => Number(a.jobId) - Number(b.jobId));
    const [renewal, enqueue] = [await openTransaction(store.url), await openTransaction(store.url)];
    try {
      await jobRenewMany(renewal, [low!], 30, T0);
      const replacing = jobInsertMany(enqueue, ["k-a", "k-b"].map((dedupKey) => job("r-order", { dedupKey, dedupPolicy: "replace" })), { now: T0 });
      await settledOrBlocked(store.url, replacing, enqueue.pid);
      // Had the enqueue locked "k-a" (the higher id) first, this would close a cycle.
      await jobRenewMany(renewal, [high!], 30, T0);
      await renewal.query("commit");
      expect((await replacing).map((r) => r.job.state)).toEqual(["leased", "leased"]);
      await enqueue.query("commit");
    } finally {
      await Promise.all([renewal.end(), enqueue.end()]);
    }
  });
});
