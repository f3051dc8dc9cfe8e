/**
 * The store's statements against PostgreSQL directly, with time passed in as `now` (as River's
 * riverdrivertest does): scheduling, claims and leases, renewal, expiry, backoff, dead jobs,
 * retention and cron fire times, each checked at chosen instants instead of after sleeps.
 */
import { describe, expect, test } from "vitest";
import {
  jobAckMany,
  jobAdoptMany,
  jobClaim,
  jobDeleteExpired,
  jobFailMany,
  jobFindExpired,
  jobGet,
  jobInsertMany,
  jobInsertWithDependencies,
  jobListPage,
  jobRenewMany,
  jobRepairDependants,
  jobRetry,
} from "../src/store/jobs.js";
import { scheduleAdvance, scheduleClaimDue, scheduleCreate } from "../src/store/schedules.js";
import { sql } from "./helpers/database.js";
import { newJob as job, useStoreDatabase } from "./helpers/store.js";

const store = useStoreDatabase();

const T0 = new Date("2030-01-01T00:00:00Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
/** Inserts one job at T0; its id. */
async function insertOne(queue: string): Promise<string> {
  const [inserted] = await jobInsertMany(store.db, [job(queue)], { now: T0 });
  return inserted!.job.id;
}
const claim = (queue: string, now: Date, leaseSeconds = 30) => jobClaim(store.db, { queues: [queue], limit: 10, leaseSeconds, owner: "replica-a", now });

describe("scheduling and claims", () => {
  test("a delayed job is claimed only once its run time has come, and says when that is", async () => {
    const [inserted] = await jobInsertMany(store.db, [job("t-delay", { delaySeconds: 60 })], { now: T0 });
    expect(inserted!.job.runTime).toEqual(at(60));
    const early = await claim("t-delay", at(59));
    expect(early.jobs).toEqual([]);
    expect(early.nextDueTime).toEqual(at(60));
    const due = await claim("t-delay", at(60));
    expect(due.jobs.map((j) => j.id)).toEqual([inserted!.job.id]);
    expect(due.jobs[0]!.leaseExpireTime).toEqual(at(90));
    expect(due.jobs[0]!.queueWaitSeconds).toBe(0);
  });

  test("a claim takes due jobs by priority, then run time, then id", async () => {
    const inserted = await jobInsertMany(
      store.db,
      [job("t-order", { priority: 5 }), job("t-order", { runTime: at(-10) }), job("t-order"), job("t-order", { priority: -1, runTime: at(5) })],
      { now: T0 },
    );
    const ids = inserted.map((i) => i.job.id);
    expect((await claim("t-order", T0)).jobs.map((j) => j.id)).toEqual([ids[1], ids[2], ids[0]]);
    expect((await claim("t-order", at(5))).jobs.map((j) => j.id)).toEqual([ids[3]]);
  });
});

describe("leases", () => {
  test("renewal moves the lease to now + its length; an expired lease is found only once past it", async () => {
    const record = { id: await insertOne("t-lease") };
    const [claimed] = (await claim("t-lease", T0, 30)).jobs;
    const lease = { jobId: record.id, leaseToken: claimed!.leaseToken };
    expect(await jobRenewMany(store.db, [lease], 30, at(20))).toEqual(new Set([record.id]));
    expect((await jobGet(store.db, record.id))!.leaseExpireTime).toEqual(at(50));
    expect((await jobFindExpired(store.db, 10, at(49))).map((l) => l.jobId)).not.toContain(record.id);
    expect(await jobFindExpired(store.db, 10, at(51))).toContainEqual({ ...lease, timedOut: false });
  });

  test("an attempt past its timeout is expired as timed out, however recently its lease was renewed", async () => {
    await jobInsertMany(store.db, [job("t-timeout", { timeoutSeconds: 10 })], { now: T0 });
    const [claimed] = (await claim("t-timeout", T0, 30)).jobs;
    expect(claimed!.attemptDeadline).toEqual(at(10));
    await jobRenewMany(store.db, [{ jobId: claimed!.id, leaseToken: claimed!.leaseToken }], 30, at(9));
    expect((await jobFindExpired(store.db, 10, at(11))).find((l) => l.jobId === claimed!.id)).toMatchObject({ timedOut: true });
  });
});

describe("failures", () => {
  test("a failed attempt waits out an exponential backoff from now, half of it jittered; the last attempt is dead", async () => {
    const policy = { baseDelaySeconds: 10, maxDelaySeconds: 1000 };
    const [inserted] = await jobInsertMany(store.db, [job("t-backoff", { maxAttempts: 3 })], { now: T0 });
    const record = inserted!.job;
    const delays: number[] = [];
    let now = T0;
    for (let attempt = 1; attempt <= 2; attempt++) {
      const [claimed] = (await claim("t-backoff", now)).jobs;
      expect(claimed!.attempt).toBe(attempt);
      const [outcome] = await jobFailMany(store.db, [{ jobId: record.id, leaseToken: claimed!.leaseToken, error: `boom ${attempt}`, deadLetter: false }], policy, now);
      expect(outcome!.state).toBe("available");
      delays.push((outcome!.runTime.getTime() - now.getTime()) / 1000);
      // Not before its backoff is over. (The database keeps microseconds; Dates, milliseconds.)
      expect((await claim("t-backoff", new Date(outcome!.runTime.getTime() - 1))).jobs).toEqual([]);
      now = new Date(outcome!.runTime.getTime() + 1);
    }
    // base·2^(n-1), of which the second half is random.
    expect(delays[0]).toBeGreaterThanOrEqual(5);
    expect(delays[0]).toBeLessThanOrEqual(10);
    expect(delays[1]).toBeGreaterThanOrEqual(10);
    expect(delays[1]).toBeLessThanOrEqual(20);
    const [last] = (await claim("t-backoff", now)).jobs;
    const [dead] = await jobFailMany(store.db, [{ jobId: record.id, leaseToken: last!.leaseToken, error: "boom 3", deadLetter: false }], policy, now);
    expect(dead!.state).toBe("dead");
    const stored = (await jobGet(store.db, record.id))!;
    expect(stored.finishTime).toEqual(now);
    expect(stored.errors.map((e) => e.message)).toEqual(["boom 1", "boom 2", "boom 3"]);
  });

  test("a stale lease token settles nothing", async () => {
    const record = { id: await insertOne("t-fence") };
    await claim("t-fence", T0);
    const stale = { jobId: record.id, leaseToken: "00000000-0000-4000-8000-000000000000" };
    expect(await jobFailMany(store.db, [{ ...stale, error: "late", deadLetter: true }], { baseDelaySeconds: 1, maxDelaySeconds: 1 }, T0)).toEqual([]);
    expect((await jobAckMany(store.db, [{ ...stale, result: new Uint8Array() }], T0)).settled).toEqual(new Set());
    expect((await jobGet(store.db, record.id))!.state).toBe("leased");
  });
});

describe("retention", () => {
  test("a finished job is deleted once its queue's retention has passed since it finished", async () => {
    const record = { id: await insertOne("t-retain") };
    const [claimed] = (await claim("t-retain", T0)).jobs;
    await jobAckMany(store.db, [{ jobId: record.id, leaseToken: claimed!.leaseToken, result: new Uint8Array() }], at(5));
    expect((await jobGet(store.db, record.id))!.finishTime).toEqual(at(5));
    const retention = { succeededSeconds: 3600, deadSeconds: 7200, cancelledSeconds: 7200 };
    await jobDeleteExpired(store.db, 1000, retention, at(3604));
    expect(await jobGet(store.db, record.id)).toBeDefined();
    await jobDeleteExpired(store.db, 1000, retention, at(3606));
    expect(await jobGet(store.db, record.id)).toBeUndefined();
  });
});

describe("cron schedules", () => {
  test("a schedule is due at its fire time, by the `now` the claim is given", async () => {
    const created = await scheduleCreate(store.db, {
      name: "t-every-minute",
      queue: "t-cron",
      cron: "0 * * * * *",
      timeZone: "UTC",
      maxAttempts: null,
      payload: new Uint8Array(),
      headers: {},
      priority: 0,
      catchupWindowSeconds: null,
      overlapPolicy: "allow",
      nextRunTime: at(60),
    });
    expect(created?.nextRunTime).toEqual(at(60));
    expect((await store.db.transaction((tx) => scheduleClaimDue(tx, 10, at(59)))).schedules.map((s) => s.name)).not.toContain("t-every-minute");
    expect((await store.db.transaction((tx) => scheduleClaimDue(tx, 10, at(60)))).schedules.map((s) => s.name)).toContain("t-every-minute");
  });
});

describe("dependants, retries and deduplication", () => {
  const policy = { baseDelaySeconds: 1, maxDelaySeconds: 1 };

  test("a dependant waits BLOCKED and is released in the transaction that settles its last blocker", async () => {
    const [blockerA, blockerB] = (await jobInsertMany(store.db, [job("t-dep-a"), job("t-dep-b")], { now: T0 })).map((i) => i.job.id);
    const [dependant] = await store.db.transaction((tx) => jobInsertWithDependencies(tx, [job("t-dep", { dependsOn: [blockerA!, blockerB!] })], 25));
    expect(dependant!.job.state).toBe("blocked");
    for (const queue of ["t-dep-a", "t-dep-b"]) {
      const [claimed] = (await claim(queue, T0)).jobs;
      await jobAckMany(store.db, [{ jobId: claimed!.id, leaseToken: claimed!.leaseToken, result: new Uint8Array() }], T0);
      const expected = queue === "t-dep-a" ? "blocked" : "available";
      expect((await jobGet(store.db, dependant!.job.id))!.state).toBe(expected);
    }
  });

  test("a dead blocker cancels its dependant; retrying both runs the dependant once the blocker succeeds", async () => {
    const [blocker] = await jobInsertMany(store.db, [job("t-dead-blocker", { maxAttempts: 1 })], { now: T0 });
    const [dependant] = await store.db.transaction((tx) => jobInsertWithDependencies(tx, [job("t-dead-dep", { dependsOn: [blocker!.job.id] })], 25));
    const [claimed] = (await claim("t-dead-blocker", T0)).jobs;
    await jobFailMany(store.db, [{ jobId: claimed!.id, leaseToken: claimed!.leaseToken, error: "no", deadLetter: false }], policy, T0);
    const cancelled = (await jobGet(store.db, dependant!.job.id))!;
    expect(cancelled.state).toBe("cancelled");
    expect(cancelled.lastError).toMatch(/blocker .* ended dead/);
    const retriedDependant = await jobRetry(store.db, [dependant!.job.id], at(1));
    expect(retriedDependant.revived.map((job) => job.state)).toEqual(["blocked"]);
    const retriedBlocker = await jobRetry(store.db, [blocker!.job.id], at(1));
    expect(retriedBlocker.revived.map((job) => job.state)).toEqual(["available"]);
    const [again] = (await claim("t-dead-blocker", at(1))).jobs;
    await jobAckMany(store.db, [{ jobId: again!.id, leaseToken: again!.leaseToken, result: new Uint8Array() }], at(2));
    expect((await jobGet(store.db, dependant!.job.id))!.state).toBe("available");
  });

  test("the repair sweep cancels a dependant whose blocker was deleted while it waited", async () => {
    const [blocker] = await jobInsertMany(store.db, [job("t-repair-blocker")], { now: T0 });
    const [dependant] = await store.db.transaction((tx) => jobInsertWithDependencies(tx, [job("t-repair", { dependsOn: [blocker!.job.id] })], 25));
    await sql(store.url, "delete from baton.jobs where id = $1", [blocker!.job.id]);
    const repaired = await jobRepairDependants(store.db, 100, at(10));
    expect(repaired).toContainEqual({ id: dependant!.job.id, queue: "t-repair", state: "cancelled" });
    expect((await jobRepairDependants(store.db, 100, at(11))).map((r) => r.id)).not.toContain(dependant!.job.id);
  });

  test("a dedup key returns the unfinished job that holds it, and, within a dedup window, the one that finished", async () => {
    const [first] = await jobInsertMany(store.db, [job("t-dedup", { dedupKey: "k" })], { now: T0 });
    const [again] = await jobInsertMany(store.db, [job("t-dedup", { dedupKey: "k" })], { now: at(1) });
    expect(again).toMatchObject({ deduplicated: true, job: { id: first!.job.id } });
    const [claimed] = (await claim("t-dedup", at(1))).jobs;
    await jobAckMany(store.db, [{ jobId: claimed!.id, leaseToken: claimed!.leaseToken, result: new Uint8Array() }], at(2));
    const [windowed] = await jobInsertMany(store.db, [job("t-dedup", { dedupKey: "k", dedupWindowSeconds: 60 })], { now: at(30) });
    expect(windowed).toMatchObject({ deduplicated: true, job: { id: first!.job.id } });
    const [fresh] = await jobInsertMany(store.db, [job("t-dedup", { dedupKey: "k", dedupWindowSeconds: 60 })], { now: at(63) });
    expect(fresh!.deduplicated).toBe(false);
    expect(fresh!.job.id).not.toBe(first!.job.id);
  });
});

describe("adoption and listing", () => {
  test("a resumed lease is adopted with a fresh token and lease; the old token stops working", async () => {
    const [inserted] = await jobInsertMany(store.db, [job("t-adopt")], { now: T0 });
    const [claimed] = (await claim("t-adopt", T0, 30)).jobs;
    const [adopted] = await jobAdoptMany(store.db, [{ jobId: inserted!.job.id, leaseToken: claimed!.leaseToken }], "replica-b", 60, at(5));
    expect(adopted).toMatchObject({ id: inserted!.job.id, leaseOwner: "replica-b", leaseExpireTime: at(65) });
    expect(adopted!.leaseToken).not.toBe(claimed!.leaseToken);
    expect(await jobRenewMany(store.db, [{ jobId: inserted!.job.id, leaseToken: claimed!.leaseToken }], 30, at(6))).toEqual(new Set());
  });

  test("a page lists newest first by queue and state, bounded by count, with a marker for more", async () => {
    const ids = (await jobInsertMany(store.db, [job("t-list"), job("t-list"), job("t-list"), job("t-list", { delaySeconds: 600 })], { now: T0 })).map((i) => i.job.id);
    const first = await jobListPage(store.db, { queue: "t-list", states: ["available"], now: T0 }, { limit: 2, maxBytes: 1 << 20 });
    expect(first.jobs.map((j) => j.id)).toEqual([ids[2], ids[1]]);
    expect(first.more).toBe(true);
    const second = await jobListPage(store.db, { queue: "t-list", states: ["available"], now: T0 }, { limit: 2, maxBytes: 1 << 20, beforeId: ids[1] });
    expect(second.jobs.map((j) => j.id)).toEqual([ids[0]]);
    expect(second.more).toBe(false);
    expect((await jobListPage(store.db, { queue: "t-list", states: ["scheduled"], now: T0 }, { limit: 10, maxBytes: 1 << 20 })).jobs.map((j) => j.id)).toEqual([ids[3]]);
  });
});

describe("schedule advance", () => {
  test("a fired schedule records its fire time and waits for the next one", async () => {
    await scheduleCreate(store.db, { name: "t-advance", queue: "t-cron", cron: "0 * * * * *", timeZone: "UTC", maxAttempts: null, catchupWindowSeconds: null, overlapPolicy: "allow", payload: new Uint8Array(), headers: {}, priority: 0, nextRunTime: at(60) });
    await store.db.transaction(async (tx) => {
      const due = await scheduleClaimDue(tx, 10, at(61));
      expect(due.schedules.map((s) => s.name)).toContain("t-advance");
      await scheduleAdvance(tx, [{ name: "t-advance", lastRunTime: at(60), nextRunTime: at(120), lastJobId: null }]);
    });
    const due = await store.db.transaction((tx) => scheduleClaimDue(tx, 10, at(90)));
    expect(due.schedules.map((s) => s.name)).not.toContain("t-advance");
    const [row] = await sql<{ last_run_time: Date; next_run_time: Date }>(store.url, "select last_run_time, next_run_time from baton.schedules where name = 't-advance'");
    expect(row).toEqual({ last_run_time: at(60), next_run_time: at(120) });
  });
});
