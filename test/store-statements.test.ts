/**
 * The statements of store/ beside jobs, against PostgreSQL directly (the conformance suite's
 * second part; store-time.test.ts has the time-dependent job statements): queue settings and
 * views, API tokens, the worker registry, the span outbox and the gauges, and the access checks'
 * lookups.
 */
import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import { jobQueues, queueDepths, scheduleQueue } from "../src/store/access.js";
import { jobClaim, jobInsertMany } from "../src/store/jobs.js";
import { queueListSettings, queuePage, queueSetPaused, queueUpdateConfig, queueViews } from "../src/store/queues.js";
import { scheduleCreate } from "../src/store/schedules.js";
import { spanExporterForget, spanExporterSeen, spanOutboxClaim, spanOutboxDelete, spanOutboxTrim, telemetryGauges } from "../src/store/telemetry.js";
import { tokenCreate, tokenFindBySecret, tokenGet, tokenList, tokenRevoke, tokenRevokedAmong } from "../src/store/tokens.js";
import { workerDelete, workerList, workerUpsertMany } from "../src/store/workers.js";
import { sql } from "./helpers/database.js";
import { newJob as job, useStoreDatabase } from "./helpers/store.js";

const store = useStoreDatabase();


describe("queues", () => {
  test("settings: pause, limits and lease length as the dispatcher reads them; a queue without settings has none", async () => {
    await queueUpdateConfig(store.db, "s-limited", { concurrencyLimit: 3, rateLimit: 10, leaseSeconds: 45 });
    await queueSetPaused(store.db, "s-paused", true);
    const settings = await queueListSettings(store.db);
    expect(settings.find((s) => s.name === "s-limited")).toEqual({ name: "s-limited", paused: false, limited: true, rateLimit: 10, fairnessRateLimit: null, leaseSeconds: 45 });
    expect(settings.find((s) => s.name === "s-paused")).toMatchObject({ paused: true, limited: false, leaseSeconds: null });
    // A fairness rate limit alone makes a queue limited too.
    await queueUpdateConfig(store.db, "s-tenant-rate", { fairnessRateLimit: 2.5 });
    expect((await queueListSettings(store.db)).find((s) => s.name === "s-tenant-rate")).toMatchObject({ limited: true, rateLimit: null, fairnessRateLimit: 2.5 });
    await queueSetPaused(store.db, "s-paused", false);
    expect((await queueListSettings(store.db)).find((s) => s.name === "s-paused")?.paused).toBe(false);
  });

  test("an update changes only the settings it names; null clears one", async () => {
    await queueUpdateConfig(store.db, "s-partial", { maxAttempts: 7, rateLimit: 5 });
    await queueUpdateConfig(store.db, "s-partial", { rateLimit: null });
    const [view] = await queueViews(store.db, ["s-partial"]);
    expect(view!.config).toMatchObject({ maxAttempts: 7, rateLimit: null });
  });

  test("views count jobs per state, and pages of names follow one another without a gap", async () => {
    await jobInsertMany(store.db, [job("s-view-a"), job("s-view-a"), job("s-view-b", { delaySeconds: 3600 })]);
    await jobClaim(store.db, { queues: ["s-view-a"], limit: 1, leaseSeconds: 30, owner: "r" });
    const views = await queueViews(store.db, ["s-view-a", "s-view-b", "s-view-none"]);
    expect(views.find((v) => v.name === "s-view-a")!.counts).toMatchObject({ available: 1, leased: 1, scheduled: 0 });
    expect(views.find((v) => v.name === "s-view-b")!.counts).toMatchObject({ scheduled: 1, available: 0 });
    const names: string[] = [];
    let after: string | undefined;
    do {
      const page = await queuePage(store.db, 2, after);
      names.push(...page.queues.map((q) => q.name));
      after = page.lastName;
    } while (after !== undefined);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(["s-view-a", "s-view-b", "s-limited"]));
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("API tokens", () => {
  test("a token is found by its secret's digest until revoked; revoked or deleted ids are listed as unusable", async () => {
    const secret = randomBytes(32);
    const created = await tokenCreate(store.db, { name: "s-token", role: "producer", queues: ["s-*"], secretSha256: secret, rateLimit: 9 });
    expect(created).toMatchObject({ name: "s-token", role: "producer", queues: ["s-*"], rateLimit: 9, maxStreams: null, revokeTime: null, expireTime: null });
    expect(await tokenFindBySecret(store.db, secret)).toMatchObject({ id: created.id, expiresInMs: null });
    expect(await tokenFindBySecret(store.db, randomBytes(32))).toBeUndefined();
    expect((await tokenList(store.db)).map((t) => t.id)).toContain(created.id);
    expect(await tokenRevokedAmong(store.db, [created.id])).toEqual([]);
    const revoked = await tokenRevoke(store.db, created.id);
    expect(revoked!.revokeTime).toBeInstanceOf(Date);
    expect((await tokenGet(store.db, created.id))!.revokeTime).toEqual(revoked!.revokeTime);
    // A token that no longer exists cannot be used either: its streams must end too.
    expect((await tokenRevokedAmong(store.db, [created.id, "999999"])).sort()).toEqual([created.id, "999999"].sort());
  });

  test("a token that expires says how long it has left, by database time", async () => {
    const secret = randomBytes(32);
    await tokenCreate(store.db, { name: "s-expiring", role: "worker", queues: ["*"], secretSha256: secret, expiresInSeconds: 3600 });
    const found = (await tokenFindBySecret(store.db, secret))!;
    expect(found.expiresInMs).toBeGreaterThan(3_500_000);
    expect(found.expiresInMs).toBeLessThanOrEqual(3_600_000);
  });
});

describe("the worker registry", () => {
  test("a replica's streams are listed with their labels, filtered by queue; a closed one is deleted, silent replicas' rows drop", async () => {
    const now = new Date();
    const stream = (sessionId: string, queues: string[], labels = {}) => ({ sessionId, workerId: `w-${sessionId}`, queues, labels, inFlight: 1, maxInFlight: 5, connectTime: now, lastSeenTime: now });
    await workerUpsertMany(store.db, "replica-1", [stream("a", ["s-mail"], { gpu: "a100" }), stream("b", ["s-report"])], 60);
    expect((await workerList(store.db, "s-mail", 60)).map((w) => [w.sessionId, w.labels])).toEqual([["a", { gpu: "a100" }]]);
    expect((await workerList(store.db, undefined, 60)).map((w) => w.sessionId).sort()).toEqual(["a", "b"]);
    await workerDelete(store.db, "a");
    expect((await workerList(store.db, undefined, 60)).map((w) => w.sessionId)).toEqual(["b"]);
    await sql(store.url, "update baton.workers set last_seen_time = now() - interval '2 minutes' where session_id = 'b'");
    expect(await workerList(store.db, undefined, 60)).toEqual([]);
  });
});

describe("telemetry", () => {
  test("the outbox: spans are claimed oldest first, deleted once exported, and trimmed past a bound", async () => {
    await spanExporterSeen(store.db, "replica-1");
    await sql(store.url, "truncate baton.span_outbox");
    // A sampled root enqueued while an exporter is registered writes its send span.
    await jobInsertMany(store.db, [job("s-spans", { headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } })]);
    const claimed = await store.db.transaction((tx) => spanOutboxClaim(tx, 10));
    expect(claimed.length).toBeGreaterThan(0);
    await spanOutboxDelete(store.db, claimed.map((span) => span.id));
    expect(await store.db.transaction((tx) => spanOutboxClaim(tx, 10))).toEqual([]);
    await jobInsertMany(store.db, Array.from({ length: 5 }, () => job("s-spans", { headers: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } })));
    expect(await spanOutboxTrim(store.db, 2)).toBe(3);
    expect(await store.db.transaction((tx) => spanOutboxClaim(tx, 10))).toHaveLength(2);
    await spanExporterForget(store.db, "replica-1");
  });

  test("the gauges count live jobs per queue and state, from one query", async () => {
    await jobInsertMany(store.db, [job("s-gauge"), job("s-gauge"), job("s-gauge", { delaySeconds: 600 })]);
    const rows = await telemetryGauges(store.db, 60);
    const of = (state: string) => rows.find((row) => row.kind === "jobs" && row.queue === "s-gauge" && row.state === state)?.value;
    expect(of("available")).toBe(2);
    expect(of("scheduled")).toBe(1);
  });
});

describe("access lookups", () => {
  test("the queues of jobs by id, a schedule's queue, and queue depths capped at the limit asked", async () => {
    const inserted = await jobInsertMany(store.db, [job("s-depth"), job("s-depth"), job("s-depth"), job("s-other")]);
    const ids = inserted.map((i) => i.job.id);
    expect(await jobQueues(store.db, [ids[0]!, ids[3]!, "999999999"])).toEqual(
      new Map([
        [ids[0], "s-depth"],
        [ids[3], "s-other"],
      ]),
    );
    await scheduleCreate(store.db, { name: "s-sched", queue: "s-cron", cron: "0 * * * * *", timeZone: "UTC", payload: new Uint8Array(), headers: {}, priority: 0, maxAttempts: null, catchupWindowSeconds: null, overlapPolicy: "allow", nextRunTime: new Date(Date.now() + 60_000) });
    expect(await scheduleQueue(store.db, "s-sched")).toBe("s-cron");
    expect(await scheduleQueue(store.db, "s-missing")).toBeUndefined();
    expect(await queueDepths(store.db, ["s-depth", "s-other", "s-empty"], 2)).toEqual(
      new Map([
        ["s-depth", 2],
        ["s-other", 1],
        ["s-empty", 0],
      ]),
    );
  });
});
