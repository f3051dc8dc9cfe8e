/**
 * Per-key limits of the limited claim (JobClaimLimited) against PostgreSQL directly, with time
 * passed in as `now`: the token bucket of fairness_rate_limit is checked at chosen instants,
 * not measured; and the sweeper that deletes buckets nobody needs.
 */
import { describe, expect, test } from "vitest";
import { fairnessBucketDeleteUnneeded } from "../src/store/fairness-buckets.js";
import { jobClaimLimited, jobInsertMany } from "../src/store/jobs.js";
import type { QueueConfigValues } from "../src/store/queue-record.js";
import { queueUpdateConfig } from "../src/store/queues.js";
import { sql } from "./helpers/database.js";
import { newJob as job, useStoreDatabase } from "./helpers/store.js";

const store = useStoreDatabase();

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** A queue with `config`, and `count` jobs of each key at T0 (null: jobs without a fairness key). */
async function queueWith(queue: string, config: Partial<QueueConfigValues>, jobs: [key: string | null, count: number][]): Promise<void> {
  await queueUpdateConfig(store.db, queue, config);
  const requests = jobs.flatMap(([key, count]) => Array.from({ length: count }, () => job(queue, key === null ? {} : { fairnessKey: key })));
  await jobInsertMany(store.db, requests, { now: T0 });
}

/** Claims up to 100 jobs of `queue` at `now`; how many of each key (keyless jobs under "-"), in key order. */
async function claimAt(queue: string, now: Date): Promise<Record<string, number>> {
  const { jobs } = await jobClaimLimited(store.db, { queue, limit: 100, leaseSeconds: 30, owner: "replica-a", now });
  if (jobs.length === 0) return {};
  const rows = await sql<{ key: string; n: number }>(
    store.url,
    "select coalesce(fairness_key, '-') as key, count(*)::int as n from baton.jobs where id = any($1::bigint[]) group by 1 order by 1",
    [jobs.map((j) => j.id)],
  );
  return Object.fromEntries(rows.map((row) => [row.key, row.n]));
}

const buckets = (queue: string) =>
  sql<{ fairness_key: string; tokens: number; refill_time: Date }>(
    store.url,
    "select fairness_key, tokens, refill_time from baton.fairness_buckets where queue = $1 order by fairness_key",
    [queue],
  );

describe("fairness_rate_limit", () => {
  test("each key starts at most its bucket of one second of rate, refilled by time; keyless jobs only meet the queue's limits", async () => {
    await queueWith("f-rate", { fairnessRateLimit: 2 }, [["a", 5], ["b", 3], [null, 4]]);
    // Full buckets of 2 tokens each; keyless jobs have no bucket.
    expect(await claimAt("f-rate", T0)).toEqual({ "-": 4, a: 2, b: 2 });
    expect(await buckets("f-rate")).toEqual([
      { fairness_key: "a", tokens: 0, refill_time: T0 },
      { fairness_key: "b", tokens: 0, refill_time: T0 },
    ]);
    expect(await claimAt("f-rate", T0)).toEqual({});
    // Half a second at 2/s is one token per key.
    expect(await claimAt("f-rate", at(0.5))).toEqual({ a: 1, b: 1 });
    expect(await claimAt("f-rate", at(0.75))).toEqual({});
    // A bucket holds one second of rate however long it filled: a's last 2, not 18.
    await jobInsertMany(store.db, [job("f-rate", { fairnessKey: "a" }), job("f-rate", { fairnessKey: "a" })], { now: T0 });
    expect(await claimAt("f-rate", at(10))).toEqual({ a: 2 });
    expect(await buckets("f-rate")).toEqual([
      { fairness_key: "a", tokens: 0, refill_time: at(10) },
      // b spent nothing at 10 s: its row stays as it was, and reads as full now.
      { fairness_key: "b", tokens: 0, refill_time: at(0.5) },
    ]);
  });

  test("a rate under one per second holds one token, and a key's fractions carry over between claims", async () => {
    await queueWith("f-slow", { fairnessRateLimit: 0.5 }, [["a", 3]]);
    expect(await claimAt("f-slow", T0)).toEqual({ a: 1 });
    expect(await claimAt("f-slow", at(1))).toEqual({});
    expect(await claimAt("f-slow", at(1.5))).toEqual({});
    expect(await claimAt("f-slow", at(2))).toEqual({ a: 1 });
    expect(await claimAt("f-slow", at(4))).toEqual({ a: 1 });
  });

  test("keys take turns within the queue's own rate limit, and a key's bucket caps it on top", async () => {
    // The queue starts 4 per second; each key 3. A backlog of a comes first.
    await queueWith("f-both", { rateLimit: 4, fairnessRateLimit: 3 }, [["a", 8], ["b", 8]]);
    expect(await claimAt("f-both", T0)).toEqual({ a: 2, b: 2 });
    // One second later the queue has 4 tokens and each key 3: the queue's limit cuts the batch.
    expect(await claimAt("f-both", at(1))).toEqual({ a: 2, b: 2 });
    await queueUpdateConfig(store.db, "f-both", { rateLimit: 100 });
    // Now only the keys' buckets hold: 3 each.
    expect(await claimAt("f-both", at(2))).toEqual({ a: 3, b: 3 });
  });

  test("the concurrency limit per key and the rate limit per key both hold", async () => {
    await queueWith("f-conc-rate", { fairnessConcurrencyLimit: 2, fairnessRateLimit: 5 }, [["a", 10], ["b", 1]]);
    expect(await claimAt("f-conc-rate", T0)).toEqual({ a: 2, b: 1 });
    // Nothing settled: a still runs 2, though its bucket has tokens.
    expect(await claimAt("f-conc-rate", at(5))).toEqual({});
  });

  test("a key that starts nothing gets no bucket row", async () => {
    await queueWith("f-idle", { fairnessRateLimit: 1, fairnessConcurrencyLimit: 1 }, [["a", 2]]);
    await jobInsertMany(store.db, [job("f-idle", { fairnessKey: "later", delaySeconds: 60 })], { now: T0 });
    expect(await claimAt("f-idle", T0)).toEqual({ a: 1 });
    // a is at its concurrency limit with tokens to spare, and "later" is not due: no rows change.
    expect(await claimAt("f-idle", at(5))).toEqual({});
    expect((await buckets("f-idle")).map((b) => [b.fairness_key, b.refill_time])).toEqual([["a", T0]]);
  });
});

describe("a key's backlog beyond the 10,000 candidates of a claim", () => {
  // A busy key enqueued first fills the candidates; once it can start nothing, its jobs are
  // left out of them and the next claim reaches the others'.
  test.each([
    ["its concurrency limit", { fairnessConcurrencyLimit: 1 }],
    ["its rate limit", { fairnessRateLimit: 1 }],
  ])("holds back no other key once the busy key reaches %s", async (_, config) => {
    const queue = `f-backlog-${Object.keys(config)[0]}`;
    await queueWith(queue, config, [["busy", 10_050]]);
    await jobInsertMany(store.db, [job(queue, { fairnessKey: "quiet" })], { now: T0 });
    expect(await claimAt(queue, T0)).toEqual({ busy: 1 });
    expect(await claimAt(queue, T0)).toEqual({ quiet: 1 });
  });
});

test("an insert never hands a job of a queue with a fairness_rate_limit straight to a stream", async () => {
  await queueUpdateConfig(store.db, "f-no-handoff", { fairnessRateLimit: 1 });
  const handoff = { jobs: [true], owner: "replica-a", leaseSeconds: 30 };
  const [inserted] = await jobInsertMany(store.db, [job("f-no-handoff", { fairnessKey: "a" })], { now: T0, handoff });
  expect(inserted!.job.state).toBe("available");
});

describe("the fairness bucket sweeper", () => {
  test("deletes buckets once full again, and every bucket of a queue that dropped its fairness_rate_limit", async () => {
    // A day after T0, when the buckets of the tests above are full, so deleted first.
    const day = (seconds: number) => at(86_400 + seconds);
    await queueWith("f-sweep", { fairnessRateLimit: 4 }, [["a", 4], ["b", 1]]);
    await queueWith("f-dropped", { fairnessRateLimit: 1 }, [["c", 1]]);
    await fairnessBucketDeleteUnneeded(store.db, 1000, day(0));
    await claimAt("f-sweep", day(0));
    await claimAt("f-dropped", day(0));
    // At 0.5 s: a has 2 of 4 tokens and b 3 + 2 >= 4, full; c's bucket of 1 is not yet full.
    expect(await fairnessBucketDeleteUnneeded(store.db, 100, day(0.5))).toBe(1);
    expect((await buckets("f-sweep")).map((b) => b.fairness_key)).toEqual(["a"]);
    expect((await buckets("f-dropped")).map((b) => b.fairness_key)).toEqual(["c"]);
    await queueUpdateConfig(store.db, "f-dropped", { fairnessRateLimit: null });
    expect(await fairnessBucketDeleteUnneeded(store.db, 100, day(0.5))).toBe(1);
    expect(await buckets("f-dropped")).toEqual([]);
    expect(await fairnessBucketDeleteUnneeded(store.db, 100, day(1))).toBe(1);
    expect(await buckets("f-sweep")).toEqual([]);
  });
});
