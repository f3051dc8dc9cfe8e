/**
 * The queue history (migration 0017, GetQueueHistory): each replica counts in memory and adds
 * its counts to the database in one statement per flush, so the history is the sum over
 * replicas and outlives a restart. Flushes here are explicit (the periodic one is set to an
 * hour) or the one at shutdown; the statements are run with an injected `now`.
 */
import { type Client, Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { describe, expect, test } from "vitest";
import { type GetQueueHistoryResponse, QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { createDatabase } from "../src/store/database.js";
import { HistoryCounter } from "../src/telemetry/history-counter.js";
import { queueHistoryAdd, queueHistoryDeleteExpired, queueHistorySeries } from "../src/store/queue-history.js";
import { type TestBroker, startReplicas, startTestBroker, stopAll } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { expectError } from "./helpers/errors.js";
import { useStoreDatabase } from "./helpers/store.js";
import { openStream } from "./helpers/stream.js";

const HOUR_MS = 3_600_000;
/** Only explicit flushes and the one at shutdown. */
const NO_PERIODIC_FLUSH = { broker: { historyFlushIntervalMs: HOUR_MS } };

const store = useStoreDatabase();

const queuesOf = (broker: TestBroker): Client<typeof QueueService> => createClient(QueueService, createGrpcTransport({ baseUrl: broker.baseUrl }));

/** The points of an answer summed up, as plain numbers. */
function totals(response: GetQueueHistoryResponse) {
  const sum = { enqueued: 0, succeeded: 0, retried: 0, dead: 0, cancelled: 0 };
  for (const p of response.points) for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += Number(p[key]);
  return sum;
}

describe("across replicas", () => {
  test("the counts of two replicas add up, and survive a restart of the replica that counted them", async () => {
    const [a, b] = await startReplicas(2, NO_PERIODIC_FLUSH);
    let restarted: TestBroker | undefined;
    try {
      const ids = [];
      for (const broker of [a!, b!]) {
        for (let i = 0; i < 2; i++) ids.push((await broker.jobs.enqueueJob({ queue: "hist", maxAttempts: 2 })).job!.id);
      }
      // A takes one job and acks it; B takes two, retries one later and dead-letters the other.
      const onA = openStream(a!.workers, { case: "hello", value: { workerId: "a", queues: ["hist"], maxInFlight: 1 } });
      const first = await onA.next("job");
      onA.send({ case: "ack", value: { jobId: first.job!.id, leaseToken: first.leaseToken } });
      expect(await onA.next("settled")).toMatchObject({ ok: true });
      const onB = openStream(b!.workers, { case: "hello", value: { workerId: "b", queues: ["hist"], maxInFlight: 2 } });
      const [retried, dead] = [await onB.next("job"), await onB.next("job")];
      onB.send({ case: "nack", value: { jobId: retried.job!.id, leaseToken: retried.leaseToken, error: "later", retryDelay: { seconds: 3600n } } });
      onB.send({ case: "nack", value: { jobId: dead.job!.id, leaseToken: dead.leaseToken, error: "never", deadLetter: true } });
      for (let i = 0; i < 2; i++) expect(await onB.next("settled")).toMatchObject({ ok: true });
      onA.close();
      onB.close();
      // The one never taken and the one waiting for its retry.
      expect(await a!.jobs.cancelJobs({ filter: { queue: "hist" } })).toMatchObject({ cancelled: 2n });

      // Nothing reached the database yet: counting costs a job no write.
      expect(totals(await queuesOf(a!).getQueueHistory({ queue: "hist" }))).toEqual({ enqueued: 0, succeeded: 0, retried: 0, dead: 0, cancelled: 0 });
      await a!.server.broker.flushHistory();
      await b!.server.broker.flushHistory();
      const expected = { enqueued: 4, succeeded: 1, retried: 1, dead: 1, cancelled: 2 };
      // Either replica answers for the whole cluster, and so does the history of all queues.
      expect(totals(await queuesOf(b!).getQueueHistory({ queue: "hist" }))).toEqual(expected);
      expect(totals(await queuesOf(a!).getQueueHistory({}))).toEqual(expected);
      const rows = await sql<{ n: string }>(a!.databaseUrl, "select count(*) as n from baton.queue_history where queue = 'hist'");
      expect(Number(rows[0]!.n)).toBeLessThanOrEqual(2); // one row per queue and minute, not per job

      // Counted on A after its last flush: saved by its shutdown, read by the broker that replaces it.
      await a!.jobs.enqueueJob({ queue: "hist" });
      await a!.stop();
      restarted = await startTestBroker(NO_PERIODIC_FLUSH, a!.databaseUrl);
      expect(totals(await queuesOf(restarted).getQueueHistory({ queue: "hist" }))).toEqual({ ...expected, enqueued: 5 });
    } finally {
      await stopAll([a!, b!, ...(restarted ? [restarted] : [])]);
    }
  });
});

describe("the statements, with an injected now", () => {
  const at = (iso: string) => new Date(iso);
  const counts = (n: Partial<Record<"enqueued" | "succeeded" | "retried" | "dead" | "cancelled", number>>) => ({
    enqueued: 0,
    succeeded: 0,
    retried: 0,
    dead: 0,
    cancelled: 0,
    ...n,
  });

  test("flushes add up per queue and minute; a series has every step, aligned, zeros included", async () => {
    await queueHistoryAdd(store.db, new Map([["s-a", counts({ succeeded: 3 })], ["s-b", counts({ dead: 1 })]]), at("2026-01-01T10:00:10Z"));
    await queueHistoryAdd(store.db, new Map([["s-a", counts({ succeeded: 2, retried: 4 })]]), at("2026-01-01T10:00:50Z"));
    await queueHistoryAdd(store.db, new Map([["s-a", counts({ enqueued: 7 })]]), at("2026-01-01T10:07:00Z"));
    const rows = await sql<{ bucket: Date; succeeded: string }>(store.url, "select bucket, succeeded from baton.queue_history where queue = 's-a' order by bucket");
    expect(rows.map((r) => [r.bucket.toISOString(), Number(r.succeeded)])).toEqual([
      ["2026-01-01T10:00:00.000Z", 5],
      ["2026-01-01T10:07:00.000Z", 0],
    ]);

    // Three steps of five minutes ending with the one 10:12 falls in: 10:00, 10:05, 10:10.
    const series = await queueHistorySeries(store.db, { queue: "s-a", stepSeconds: 300, points: 3 }, at("2026-01-01T10:12:00Z"));
    expect(series.map((p) => [p.startTime.toISOString(), p.succeeded, p.retried, p.enqueued])).toEqual([
      ["2026-01-01T10:00:00.000Z", 5, 4, 0],
      ["2026-01-01T10:05:00.000Z", 0, 0, 7],
      ["2026-01-01T10:10:00.000Z", 0, 0, 0],
    ]);
    const all = await queueHistorySeries(store.db, { stepSeconds: 600, points: 1 }, at("2026-01-01T10:09:59Z"));
    expect(all).toEqual([{ startTime: at("2026-01-01T10:00:00Z"), enqueued: 7, succeeded: 5, retried: 4, dead: 1, cancelled: 0 }]);
  });

  test("counts that fail to reach the database are kept for the next flush", async () => {
    const counter = new HistoryCounter();
    counter.add("s-kept", "succeeded", 2);
    const unreachable = createDatabase({ url: store.url.replace(/\/[^/?]+(\?|$)/, "/no_such_database$1"), maxConnections: 1 });
    try {
      await expect(counter.flush(unreachable)).rejects.toThrow();
    } finally {
      await unreachable.close();
    }
    counter.add("s-kept", "succeeded", 1);
    await counter.flush(store.db);
    await counter.flush(store.db); // nothing left: adds nothing
    const rows = await sql<{ succeeded: string }>(store.url, "select sum(succeeded) as succeeded from baton.queue_history where queue = 's-kept'");
    expect(Number(rows[0]!.succeeded)).toBe(3);
  });

  test("retention deletes the minutes older than it, in batches", async () => {
    for (const minute of ["00", "01", "02", "03"]) {
      await queueHistoryAdd(store.db, new Map([["s-old", counts({ succeeded: 1 })]]), at(`2026-02-01T00:${minute}:00Z`));
    }
    const now = at("2026-02-08T00:02:30Z"); // 7 days after 00:02:30: minutes 00, 01 and 02 are past
    // The other tests' January rows are past it too.
    const deleted = [];
    do deleted.push(await queueHistoryDeleteExpired(store.db, 7 * 86400, 2, now));
    while (deleted.at(-1) === 2);
    expect(deleted.slice(0, -1).every((n) => n === 2)).toBe(true);
    const left = await sql<{ bucket: Date }>(store.url, "select bucket from baton.queue_history where queue = 's-old'");
    expect(left.map((r) => r.bucket.toISOString())).toEqual(["2026-02-01T00:03:00.000Z"]);
  });
});

describe("GetQueueHistory's input", () => {
  test("defaults to an hour in steps of a minute; a week picks steps of 168 minutes; bad input is refused, naming the field", async () => {
    const broker = await startTestBroker(NO_PERIODIC_FLUSH);
    try {
      const queues = queuesOf(broker);
      const hour = await queues.getQueueHistory({});
      expect(hour.points).toHaveLength(60);
      expect(hour.step).toMatchObject({ seconds: 60n });
      const week = await queues.getQueueHistory({ queue: "emails", window: { seconds: 7n * 86400n } });
      expect(week.step).toMatchObject({ seconds: 168n * 60n });
      expect(week.points).toHaveLength(60);
      const [p, q] = week.points.slice(-2);
      expect(Number(q!.startTime!.seconds - p!.startTime!.seconds)).toBe(168 * 60);

      await expectError(queues.getQueueHistory({ window: { seconds: -60n } }), Code.InvalidArgument, "window must not be negative");
      await expectError(queues.getQueueHistory({ window: { seconds: 32n * 86400n } }), Code.InvalidArgument, "window must be at most 31 days");
      await expectError(queues.getQueueHistory({ step: { seconds: 90n } }), Code.InvalidArgument, "step must be a whole number of minutes");
      await expectError(queues.getQueueHistory({ step: { seconds: 0n, nanos: 5 } }), Code.InvalidArgument, "step must be a whole number of minutes");
      await expectError(
        queues.getQueueHistory({ window: { seconds: 2n * 86400n }, step: { seconds: 60n } }),
        Code.InvalidArgument,
        "window / step gives 2880 points, at most 1440",
      );
      await expectError(queues.getQueueHistory({ window: { seconds: 60n, nanos: -1 } }), Code.InvalidArgument, "window is not a valid Duration");
      await expectError(queues.getQueueHistory({ queue: "bad\u0000name" }), Code.InvalidArgument, /^queue /);
    } finally {
      await broker.stop();
    }
  });
});
