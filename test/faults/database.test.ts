/**
 * Database connection faults: pg_terminate_backend on the broker's pool connections
 * (application_name 'baton') and on its LISTEN connection ('baton-listener') while work
 * flows, with `baton serve` in its own process.
 */
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { createTestDatabase, sql } from "../helpers/database.js";
import { spawnTs } from "../helpers/process.js";
import { SEEDS, size, timeoutMs } from "./config.js";
import { inScenario, jobClient, waitUntil } from "./harness.js";
import { unfinished } from "./history.js";
import { flushSummary } from "./summary.js";

afterAll(() => flushSummary("database"));

/** Terminates the backends of this database with the given application names; returns their pids. */
async function terminate(databaseUrl: string, applicationNames: string[]): Promise<number[]> {
  const rows = await sql<{ pid: number }>(
    databaseUrl,
    `select pid from pg_stat_activity
     where datname = current_database() and application_name = any($1) and pid <> pg_backend_pid() and pg_terminate_backend(pid)`,
    [applicationNames],
  );
  return rows.map((r) => r.pid);
}

/** Runs `hold` while `lockSql` holds a lock in another session, then releases it. */
async function withLock<T>(databaseUrl: string, lockSql: string, values: unknown[], hold: () => Promise<T>): Promise<T> {
  const locker = new pg.Client({ connectionString: databaseUrl });
  await locker.connect();
  try {
    await locker.query("begin");
    await locker.query(lockSql, values);
    return await hold();
  } finally {
    await locker.query("rollback").catch(() => {});
    await locker.end();
  }
}

/** Terminates the first broker backend that waits on a lock while running a statement like `pattern`. */
async function terminateWaiting(databaseUrl: string, pattern: string): Promise<number> {
  let pid: number | undefined;
  await waitUntil(async () => {
    const rows = await sql<{ pid: number }>(
      databaseUrl,
      "select pid from pg_stat_activity where datname = current_database() and application_name = 'baton' and wait_event_type = 'Lock' and query like $1",
      [pattern],
    );
    pid = rows[0]?.pid;
    return pid !== undefined;
  }, `a broker statement like ${pattern} to wait on the lock`);
  await sql(databaseUrl, "select pg_terminate_backend($1)", [pid]);
  return pid!;
}

async function listenerPids(databaseUrl: string): Promise<number[]> {
  const rows = await sql<{ pid: number }>(
    databaseUrl,
    "select pid from pg_stat_activity where datname = current_database() and application_name = 'baton-listener' and query ilike 'listen%'",
  );
  return rows.map((r) => r.pid);
}

describe.each(SEEDS)("seed %i", (seed) => {
  test(
    "pool and LISTEN connections terminated with pg_terminate_backend under load: nothing lost",
    inScenario("pg-terminate-backend", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const broker = await scenario.brokerProcess(databaseUrl);
      const queue = `terminate-${seed}`;
      const urls = [broker.url];
      await scenario.workers(3, { urls, queues: [queue], id: "w", concurrency: 8, workMs: "5-40" });
      const total = size(500);
      const producing = scenario.producer(urls).run(queue, total, 20, 30);
      const kills = size(6);
      const targets = [["baton"], ["baton-listener"], ["baton", "baton-listener"]];
      for (let k = 0; k < kills; k++) {
        await scenario.reachFaultPoint(k, kills, total);
        const names = scenario.random.pick(targets);
        const pids = await terminate(databaseUrl, names);
        scenario.history.fault(`pg_terminate_backend ${names.join("+")}`, { backends: pids.length });
      }
      await producing;
      await scenario.verify(databaseUrl, [queue]);
      // The same broker process served throughout.
      expect(broker.process.child.exitCode).toBeNull();
    }),
    timeoutMs(90_000),
  );

  test(
    "LISTEN connections terminated: every replica listens again, and jobs enqueued on another replica still wake idle workers",
    inScenario("pg-terminate-listener", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      // No fallback poll within the test: an idle replica learns of new jobs only by NOTIFY
      // (or by the poll its listener runs right after reconnecting).
      const env = { BATON_POLL_SECONDS: "3600" };
      const [consumerSide, producerSide] = await Promise.all([scenario.brokerProcess(databaseUrl, { env }), scenario.brokerProcess(databaseUrl, { env })]);
      const queue = `listener-${seed}`;
      await scenario.workers(2, { urls: [consumerSide.url], queues: [queue], id: "w", concurrency: 8 });
      const producer = scenario.producer([producerSide.url]);
      const batch = size(20);
      const idle = () => waitUntil(async () => (await unfinished(databaseUrl, [queue])) === 0, "the workers to go idle", 30_000);
      await waitUntil(async () => (await listenerPids(databaseUrl)).length === 2, "both replicas to listen");
      await producer.enqueue(queue, batch);
      await idle();
      const rounds = size(3);
      for (let k = 0; k < rounds; k++) {
        const before = await listenerPids(databaseUrl);
        const killed = await terminate(databaseUrl, ["baton-listener"]);
        scenario.history.fault("pg_terminate_backend baton-listener", { backends: killed.length });
        expect(killed.sort()).toEqual(before.sort());
        // Half the rounds enqueue while no replica listens: the notification is lost, and the
        // poll that follows each reconnect must find the jobs.
        const early = k % 2 === 1;
        if (early) await producer.enqueue(queue, batch);
        await waitUntil(async () => {
          const now = await listenerPids(databaseUrl);
          return now.length === 2 && now.every((pid) => !before.includes(pid));
        }, "both listeners to come back");
        if (!early) await producer.enqueue(queue, batch);
        await idle();
      }
      await scenario.verify(databaseUrl, [queue]);
    }),
    timeoutMs(90_000),
  );

  test(
    "an ack whose write fails (its connection is terminated) is refused; the lease lapses and the job runs again",
    inScenario("settle-write-fails", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const broker = await scenario.brokerProcess(databaseUrl);
      const queue = `settle-${seed}`;
      const worker = await scenario.worker({ urls: [broker.url], queues: [queue], id: "w", concurrency: 1 });
      const [id] = await scenario.producer([broker.url]).enqueue(queue, 1, { workMs: 500, slowOnce: true });
      const first = await worker.waitFor((e) => e.event === "start" && e.id === id);
      await withLock(databaseUrl, "select 1 from baton.jobs where id = $1 for update", [id], async () => {
        await terminateWaiting(databaseUrl, "%Settles attempts as succeeded%");
        scenario.history.fault("pg_terminate_backend during ack");
        await worker.waitFor((e) => e.event === "settled" && e.id === id && e.ok === false);
      });
      const refused = worker.events.find((e) => e.event === "settled" && e.id === id)!;
      expect(refused.error).toMatch(/could not be written/);
      // Nothing was written; the lease is no longer renewed, expires, and the job runs again.
      const second = await worker.waitFor((e) => e.event === "start" && e.id === id && e.lease !== first.lease);
      await worker.waitFor((e) => e.event === "settled" && e.id === id && e.start === second.lease && e.ok === true);
      const report = await scenario.verify(databaseUrl, [queue]);
      expect(report.settleErrors).toBe(1);
      expect(report.duplicatedExplained).toBe(1);
      const [row] = await sql<{ errors: { message: string }[] }>(databaseUrl, "select errors from baton.jobs where id = $1", [id]);
      expect(row!.errors.map((e) => e.message)).toEqual(["lease expired"]);
    }),
    timeoutMs(60_000),
  );

  // When an ack cannot be written, the broker answers settled{ok=false} and stops renewing the
  // lease, so it lapses and the job runs again: it must not stay LEASED behind a worker that
  // will not resend, for as long as that worker stays connected.
  test(
    "a runWorker ack whose write fails is refused, and the job still finishes while the worker lives",
    inScenario("client-worker-settle-fails", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const broker = await scenario.brokerProcess(databaseUrl);
      const queue = `stuck-${seed}`;
      const worker = scenario.track(
        spawnTs("test/faults/fixtures/client-worker.ts", { BATON_URL: broker.url, QUEUES: queue, CONCURRENCY: "1", WORK_MS: "500-500" }),
      );
      await worker.waitFor((e) => e.event === "ready");
      const client = jobClient(broker.url);
      const { job } = await client.enqueueJob({ queue, payload: new TextEncoder().encode("{}") });
      await worker.waitFor((e) => e.event === "start" && e.id === job!.id);
      await withLock(databaseUrl, "select 1 from baton.jobs where id = $1 for update", [job!.id], async () => {
        await terminateWaiting(databaseUrl, "%Settles attempts as succeeded%");
        await worker.waitFor((e) => e.event === "error" && /could not be written/.test(String(e.message)));
      });
      await waitUntil(async () => (await client.getJob({ id: job!.id })).job!.finishTime !== undefined, "the job to finish", 8_000);
    }),
    timeoutMs(60_000),
  );

  // Regression: the scheduler's transaction is made to wait on a lock and exactly that backend
  // is terminated; a checked-out client without an 'error' listener used to crash the broker.
  test(
    "a pool connection terminated inside a transaction (the scheduler's tick) does not crash the broker",
    inScenario("scheduler-connection-terminated", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const broker = await scenario.brokerProcess(databaseUrl, { env: { BATON_SCHEDULER_SECONDS: "0.2" } });
      await withLock(databaseUrl, "lock table baton.schedules in access exclusive mode", [], () =>
        terminateWaiting(databaseUrl, "%Locks up to @limit due schedules%"),
      );
      // The broker must still take work: an enqueue through it commits.
      const client = jobClient(broker.url);
      const { job } = await client.enqueueJob({ queue: `crash-${seed}`, payload: new Uint8Array() }, { timeoutMs: 5_000 });
      expect(job!.id).not.toBe("");
      expect(broker.process.child.exitCode).toBeNull();
    }),
    timeoutMs(60_000),
  );
});
