/**
 * The store's job statements that work on leases, lookups and limits rather than on time
 * (store-time.test.ts has the time-dependent ones), and the schedule listing and the batched
 * wakeups, each against PostgreSQL directly: the conformance suite's third part.
 */
import pg from "pg";
import { describe, expect, test } from "vitest";
import {
  jobAckMany,
  jobCancel,
  jobChainUnfinished,
  jobClaim,
  jobClaimLimited,
  jobGet,
  jobGetFinished,
  jobInsertMany,
  jobProgressMany,
  jobSettleFailureReasons,
  jobUnclaim,
} from "../src/store/jobs.js";
import { Notifier } from "../src/store/notifier.js";
import { queueUpdateConfig } from "../src/store/queues.js";
import { scheduleCreate, scheduleDelete, schedulePage } from "../src/store/schedules.js";
import { createLogger } from "../src/util/log.js";
import { sql } from "./helpers/database.js";
import { eventually } from "./helpers/wait.js";
import { newJob as job, useStoreDatabase } from "./helpers/store.js";

const store = useStoreDatabase();

const T0 = new Date("2030-01-01T00:00:00Z");
const claim = (queue: string) => jobClaim(store.db, { queues: [queue], limit: 10, leaseSeconds: 30, owner: "replica-a", now: T0 });
const insert = async (queue: string, count = 1) => (await jobInsertMany(store.db, Array.from({ length: count }, () => job(queue)), { now: T0 })).map((i) => i.job.id);

describe("cancel", () => {
  test("a waiting job is cancelled at once; a leased one is marked for its holder; a finished one is left alone", async () => {
    const [first, second] = await insert("j-cancel", 2);
    // The claim takes the older job.
    await jobClaim(store.db, { queues: ["j-cancel"], limit: 1, leaseSeconds: 30, owner: "replica-a", now: T0 });
    const [running, waiting] = [first, second];
    expect(await jobCancel(store.db, [waiting!], T0)).toEqual([{ id: waiting, queue: "j-cancel", state: "cancelled" }]);
    expect(await jobGet(store.db, waiting!)).toMatchObject({ state: "cancelled", finishTime: T0, cancelRequested: false });
    expect(await jobCancel(store.db, [running!], T0)).toEqual([{ id: running, queue: "j-cancel", state: "leased" }]);
    expect(await jobGet(store.db, running!)).toMatchObject({ state: "leased", finishTime: null, cancelRequested: true });
    // Cancelling again changes nothing: the waiting job is finished, the running one already asked.
    expect(await jobCancel(store.db, [waiting!, running!, "999999999"], T0)).toEqual([]);
    // WaitJob's lookup: only the job that reached a terminal state.
    expect((await jobGetFinished(store.db, [waiting!, running!, "999999999"])).map((j) => j.id)).toEqual([waiting]);
  });
});

describe("leases", () => {
  test("an unclaimed job is available again with its attempt not counted; a stale token gives back nothing", async () => {
    const [id] = await insert("j-unclaim");
    const [claimed] = (await claim("j-unclaim")).jobs;
    expect(await jobUnclaim(store.db, [{ jobId: id!, leaseToken: "00000000-0000-4000-8000-000000000000" }])).toEqual([]);
    expect(await jobUnclaim(store.db, [{ jobId: id!, leaseToken: claimed!.leaseToken }])).toEqual(["j-unclaim"]);
    expect(await jobGet(store.db, id!, T0)).toMatchObject({ state: "available", attempt: 0, leaseToken: null, leaseOwner: null, attemptDeadline: null });
  });

  test("progress is written only under the lease that holds the job", async () => {
    const [id] = await insert("j-progress");
    const [claimed] = (await claim("j-progress")).jobs;
    await jobProgressMany(store.db, [
      { jobId: id!, leaseToken: claimed!.leaseToken, percent: 40, message: "halfway there" },
      { jobId: id!, leaseToken: "00000000-0000-4000-8000-000000000000", percent: 99, message: "stale" },
    ]);
    expect(await jobGet(store.db, id!, T0)).toMatchObject({ progressPercent: 40, progressMessage: "halfway there" });
  });

  test("a refused settlement is explained: the job is gone, no longer leased, or leased again", async () => {
    const [acked, reclaimed] = await insert("j-reasons", 2);
    const first = (await claim("j-reasons")).jobs;
    const token = (id: string) => first.find((j) => j.id === id)!.leaseToken;
    await jobAckMany(store.db, [{ jobId: acked!, leaseToken: token(acked!), result: new Uint8Array() }], T0);
    await jobUnclaim(store.db, [{ jobId: reclaimed!, leaseToken: token(reclaimed!) }]);
    await claim("j-reasons");
    const reasons = await jobSettleFailureReasons(store.db, [
      { jobId: acked!, leaseToken: token(acked!) },
      { jobId: reclaimed!, leaseToken: token(reclaimed!) },
      { jobId: "999999999", leaseToken: token(acked!) },
    ]);
    expect(reasons).toEqual(
      new Map([
        [acked, `job ${acked} is no longer leased (it is succeeded)`],
        [reclaimed, `stale lease token: job ${reclaimed} was leased again`],
        ["999999999", "job 999999999 does not exist"],
      ]),
    );
  });
});

describe("limited queues", () => {
  test("the plain claim refuses a queue with limits; the limited claim keeps to its concurrency", async () => {
    await queueUpdateConfig(store.db, "j-limited", { concurrencyLimit: 2 });
    await insert("j-limited", 5);
    expect(await claim("j-limited")).toMatchObject({ jobs: [], queueLimited: true });
    const limited = (limit: number) => jobClaimLimited(store.db, { queue: "j-limited", limit, leaseSeconds: 30, owner: "replica-a", now: T0 });
    expect((await limited(10)).jobs).toHaveLength(2);
    expect((await limited(10)).jobs).toHaveLength(0);
  });
});

describe("worker labels", () => {
  test("a claim takes the jobs whose worker_labels its labels contain, and every unlabelled one, on plain and limited queues", async () => {
    await queueUpdateConfig(store.db, "j-labels-limited", { concurrencyLimit: 100 });
    for (const queue of ["j-labels", "j-labels-limited"]) {
      const inserted = await jobInsertMany(
        store.db,
        ([{}, { gpu: "a100" }, { gpu: "a100", region: "eu" }, { gpu: "t4" }, {}] as Record<string, string>[]).map((workerLabels) => job(queue, { workerLabels })),
        { now: T0 },
      );
      const [plain, a100, a100InEu, t4, plainToo] = inserted.map((i) => i.job.id);
      expect(inserted.map((i) => i.job.workerLabels)).toEqual([{}, { gpu: "a100" }, { gpu: "a100", region: "eu" }, { gpu: "t4" }, {}]);
      expect((await jobGet(store.db, a100InEu!))!.workerLabels).toEqual({ gpu: "a100", region: "eu" });
      const claimWith = async (labels: Record<string, string>) => {
        const params = { limit: 10, leaseSeconds: 30, owner: "replica-a", now: T0, labels };
        const { jobs } = queue === "j-labels" ? await jobClaim(store.db, { ...params, queues: [queue] }) : await jobClaimLimited(store.db, { ...params, queue });
        return jobs.map((j) => j.id);
      };
      expect(await claimWith({ gpu: "a100", zone: "b" }), queue).toEqual([plain, a100, plainToo]);
      // Having some of a job's labels is not enough.
      expect(await claimWith({ region: "eu" }), queue).toEqual([]);
      expect(await claimWith({ region: "eu", gpu: "a100" }), queue).toEqual([a100InEu]);
      expect(await claimWith({}), queue).toEqual([]);
      expect((await jobGet(store.db, t4!, T0))!.state, queue).toBe("available");
    }
  });

  test("labelled jobs no claim matches never fill its candidates: a backlog past the limited claim's 10,000 at the head of the queue", async () => {
    await queueUpdateConfig(store.db, "j-labels-backlog", { concurrencyLimit: 100 });
    await sql(
      store.url,
      `insert into baton.jobs (queue, max_attempts, chain_id, run_time, worker_labels)
       select 'j-labels-backlog', 1, g, $1::timestamptz - interval '1 hour', '{"gpu": "a100"}' from generate_series(1, 10001) g`,
      [T0],
    );
    const [behind] = await insert("j-labels-backlog");
    const params = { limit: 1, leaseSeconds: 30, owner: "replica-a", now: T0, labels: { region: "eu" } };
    expect((await jobClaimLimited(store.db, { ...params, queue: "j-labels-backlog" })).jobs.map((j) => j.id)).toEqual([behind]);
    await jobUnclaim(store.db, [{ jobId: behind!, leaseToken: (await jobGet(store.db, behind!))!.leaseToken! }]);
    await queueUpdateConfig(store.db, "j-labels-backlog", { concurrencyLimit: null });
    expect((await jobClaim(store.db, { ...params, queues: ["j-labels-backlog"] })).jobs.map((j) => j.id)).toEqual([behind]);
  });
});

describe("chains", () => {
  test("a chain is unfinished while its root or any continuation is", async () => {
    const [root, done] = await insert("j-chain", 2);
    await jobInsertMany(store.db, [job("j-chain", { parentId: root! })], { now: T0 });
    const claimed = (await jobClaim(store.db, { queues: ["j-chain"], limit: 3, leaseSeconds: 30, owner: "replica-a", now: T0 })).jobs;
    const ack = (id: string) => jobAckMany(store.db, [{ jobId: id, leaseToken: claimed.find((j) => j.id === id)!.leaseToken, result: new Uint8Array() }], T0);
    await ack(root!);
    await ack(done!);
    // The root finished, its continuation has not: the chain goes on. The other chain is done.
    expect(await jobChainUnfinished(store.db, [root!, done!])).toEqual(new Set([root]));
  });
});

describe("schedules", () => {
  const schedule = (name: string, payloadBytes = 0) =>
    scheduleCreate(store.db, {
      name,
      queue: "j-cron",
      cron: "0 * * * * *",
      timeZone: "UTC",
      payload: new Uint8Array(payloadBytes),
      headers: {},
      priority: 0,
      maxAttempts: null,
      catchupWindowSeconds: null,
      overlapPolicy: "allow",
      nextRunTime: T0,
    });

  test("a name is taken once; pages follow in name order, cut by count or by bytes; delete says whether there was one", async () => {
    for (const name of ["p-a", "p-b", "p-c"]) expect(await schedule(name, 1000)).toMatchObject({ name, timeZone: "UTC", nextRunTime: T0, lastRunTime: null });
    expect(await schedule("p-a")).toBeUndefined();
    const first = await schedulePage(store.db, { limit: 2, maxBytes: 1 << 20, afterName: "p" });
    expect([first.schedules.map((s) => s.name), first.more]).toEqual([["p-a", "p-b"], true]);
    const rest = await schedulePage(store.db, { limit: 2, maxBytes: 1 << 20, afterName: "p-b" });
    expect(rest.schedules.map((s) => s.name)).toEqual(["p-c"]);
    // 1,000-byte payloads against a 1,500-byte budget: the first always, the second would overrun.
    const cut = await schedulePage(store.db, { limit: 10, maxBytes: 1500, afterName: "p" });
    expect([cut.schedules.map((s) => s.name), cut.more]).toEqual([["p-a"], true]);
    expect(await scheduleDelete(store.db, "p-b")).toBe(true);
    expect(await scheduleDelete(store.db, "p-b")).toBe(false);
  });
});

describe("wakeups", () => {
  test("a batch of wakeups is sent once committed, each (channel, payload) once", async () => {
    const listener = new pg.Client({ connectionString: store.url });
    await listener.connect();
    const received: string[] = [];
    listener.on("notification", (message) => received.push(`${message.channel}:${message.payload ?? ""}`));
    await listener.query("listen baton_jobs; listen baton_finished");
    try {
      const notifier = new Notifier(store.db, createLogger({}, "error"));
      notifier.notify("baton_finished", ["q1", "q2", "q1"]);
      notifier.notify("baton_jobs", ["q1"]);
      await notifier.drain();
      // The end marker goes out after the batch: once it arrives, every wakeup of the batch has.
      await store.db.query({ name: "", text: "select pg_notify('baton_jobs', 'end')", values: [] });
      await eventually(() => received.includes("baton_jobs:end"), { what: "the end marker" });
      expect(received.sort()).toEqual(["baton_finished:q1", "baton_finished:q2", "baton_jobs:end", "baton_jobs:q1"]);
    } finally {
      await listener.end();
    }
  });
});
