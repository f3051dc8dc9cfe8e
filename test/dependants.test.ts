/**
 * Fan-in dependants against real PostgreSQL: the settlements of a dependant's blockers
 * interleaved by hand on separate connections, the repair of dependants that earlier releases
 * stranded (by the sweep, and once by migration 0007), and the sweep as the broker runs it.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Database, createDatabase } from "../src/store/database.js";
import type { NewJob } from "../src/store/job-record.js";
import { type RetryPolicy, jobAckMany, jobClaim, jobFailMany, jobGet, jobInsertMany, jobInsertWithDependencies, jobRepairDependants } from "../src/store/jobs.js";
import { listMigrations, migrate } from "../src/store/migrate.js";
import { withDatabase } from "./setup/global-postgres.js";
import { startTestBroker } from "./helpers/broker.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { interleaved, openTransaction, settledOrBlocked } from "./helpers/interleave.js";
import { eventually } from "./helpers/wait.js";

const policy: RetryPolicy = { baseDelaySeconds: 1, maxDelaySeconds: 1 };
const job = (queue: string, extra: Partial<NewJob> = {}): NewJob => ({ queue, payload: new Uint8Array(), headers: {}, priority: 0, ...extra });

let url: string;
let db: Database;

beforeAll(async () => {
  url = await createTestDatabase();
  db = createDatabase({ url });
});

afterAll(() => db?.close());

/** Blockers leased to "test", and a dependant of all of them. */
async function fanIn(queue: string, blockerCount: number) {
  await jobInsertMany(db, Array.from({ length: blockerCount }, () => job(`${queue}-blocker`)));
  const { jobs: leased } = await jobClaim(db, { queues: [`${queue}-blocker`], limit: blockerCount, leaseSeconds: 600, owner: "test" });
  expect(leased).toHaveLength(blockerCount);
  const [dependant] = await db.transaction((tx) => jobInsertWithDependencies(tx, [job(queue, { dependsOn: leased.map((b) => b.id) })], 25));
  expect(dependant!.job.state).toBe("blocked");
  return { blockers: leased.map((b) => ({ jobId: b.id, leaseToken: b.leaseToken, result: new Uint8Array() })), dependant: dependant!.job };
}

describe("fan-in under concurrent settlement", () => {
  // Regression: both settlements counted the dependant's remaining blockers in their own
  // snapshot; each still saw the other's dependency row, so neither unblocked it.
  test("two acks in flight at once, each of one blocker: the one that commits last unblocks the dependant", async () => {
    const { blockers, dependant } = await fanIn("fan-ack", 2);
    // The second ack runs while the first is uncommitted: it waits for the dependant's lock.
    await interleaved(url, (tx) => jobAckMany(tx, [blockers[0]!]), (tx) => jobAckMany(tx, [blockers[1]!]));
    const after = await jobGet(db, dependant.id);
    expect(after!.state).toBe("available");
    expect(await sql(url, "select * from baton.job_dependencies where job_id = $1", [dependant.id])).toEqual([]);
  });

  test("an ack and a dead-letter nack in flight at once: the dependant is cancelled with the dead blocker named", async () => {
    const { blockers, dependant } = await fanIn("fan-mixed", 2);
    await interleaved(
      url,
      (tx) => jobAckMany(tx, [blockers[0]!]),
      (tx) => jobFailMany(tx, [{ ...blockers[1]!, error: "broken", deadLetter: true }], policy),
    );
    const after = await jobGet(db, dependant.id);
    expect(after).toMatchObject({ state: "cancelled", lastError: `blocker ${blockers[1]!.jobId} ended dead` });
    expect(await sql(url, "select * from baton.job_dependencies where job_id = $1", [dependant.id])).toEqual([]);
  });

  test("three blockers settled by three transactions committed in reverse order", async () => {
    const { blockers, dependant } = await fanIn("fan-three", 3);
    const clients = [await openTransaction(url), await openTransaction(url), await openTransaction(url)];
    try {
      await jobAckMany(clients[0]!, [blockers[0]!]);
      const second = jobAckMany(clients[1]!, [blockers[1]!]);
      await settledOrBlocked(url, second, clients[1]!.pid);
      const third = jobAckMany(clients[2]!, [blockers[2]!]);
      await settledOrBlocked(url, third, clients[2]!.pid);
      await clients[0]!.query("commit");
      await second;
      await clients[1]!.query("commit");
      await third;
      await clients[2]!.query("commit");
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    expect((await jobGet(db, dependant.id))!.state).toBe("available");
  });
});

/**
 * Strands dependants the way earlier releases could, by writing the rows directly: one blocked
 * with no dependency row left, one whose blocker was deleted, and two that rightly wait (for a
 * leased blocker, and for a dead blocker that may be retried).
 */
async function strand(target: string) {
  const [leased, dead, deleted, done] = await sql<{ id: string }>(
    target,
    `insert into baton.jobs (queue, state, max_attempts, attempt, chain_id, finish_time, lease_token, lease_expire_time, lease_owner)
     values ('strand-blocker', 'available', 1, 0, 0, null, null, null, null),
            ('strand-blocker', 'dead', 1, 1, 0, now(), null, null, null),
            ('strand-blocker', 'available', 1, 0, 0, null, null, null, null),
            ('strand-blocker', 'succeeded', 1, 1, 0, now(), null, null, null)
     returning id`,
  );
  const dependants = await sql<{ id: string }>(
    target,
    `insert into baton.jobs (queue, state, max_attempts, chain_id, depends_on)
     select 'strand', 'blocked', 1, 0, array[t.blocker] from unnest($1::bigint[]) with ordinality as t(blocker, ord)
     order by t.ord
     returning id`,
    [[done!.id, deleted!.id, leased!.id, dead!.id]],
  );
  const [emptied, orphaned, waiting, waitingForRetry] = dependants.map((d) => d.id);
  // emptied lost its row without being unblocked (the race); orphaned's blocker is deleted.
  await sql(
    target,
    `insert into baton.job_dependencies (job_id, blocker_id) values ($1, $2), ($3, $4), ($5, $6)`,
    [orphaned, deleted!.id, waiting, leased!.id, waitingForRetry, dead!.id],
  );
  await sql(target, "delete from baton.jobs where id = $1", [deleted!.id]);
  return { emptied: emptied!, orphaned: orphaned!, orphanBlocker: deleted!.id, waiting: waiting!, waitingForRetry: waitingForRetry! };
}

async function states(target: string, ids: string[]): Promise<Record<string, { state: string; last_error: string }>> {
  const rows = await sql<{ id: string; state: string; last_error: string }>(target, "select id, state, last_error from baton.jobs where id = any($1::bigint[])", [ids]);
  return Object.fromEntries(rows.map((r) => [r.id, { state: r.state, last_error: r.last_error }]));
}

describe("repair of stranded dependants", () => {
  test("the sweep unblocks a dependant with nothing left to wait for, cancels one whose blocker is gone, and leaves the others", async () => {
    const stranded = await strand(url);
    const now = new Date("2030-01-01T00:00:00Z");
    const repaired = await jobRepairDependants(db, 1000, now);
    expect(repaired.map((r) => [r.id, r.state]).sort()).toEqual(
      [
        [stranded.emptied, "available"],
        [stranded.orphaned, "cancelled"],
      ].sort(),
    );
    const after = await states(url, Object.values(stranded));
    expect(after[stranded.orphaned]).toEqual({ state: "cancelled", last_error: `blocker ${stranded.orphanBlocker} no longer exists` });
    expect(after[stranded.waiting]!.state).toBe("blocked");
    expect(after[stranded.waitingForRetry]!.state).toBe("blocked");
    const [finished] = await sql<{ finish_time: Date }>(url, "select finish_time from baton.jobs where id = $1", [stranded.orphaned]);
    expect(finished!.finish_time).toEqual(now);
    expect(await jobRepairDependants(db, 1000, now)).toEqual([]);
  });

  test("migration 0007 repairs the dependants an earlier schema stranded", async () => {
    const fresh = await createEmptyDatabase();
    const client = new pg.Client({ connectionString: fresh });
    await client.connect();
    try {
      await client.query("create schema baton; create table baton.schema_migrations (version integer primary key, name text not null, applied_time timestamptz not null default now())");
      for (const migration of listMigrations().filter((m) => m.version < 7)) {
        await client.query(migration.sql);
        await client.query("insert into baton.schema_migrations (version, name) values ($1, $2)", [migration.version, migration.name]);
      }
    } finally {
      await client.end();
    }
    const stranded = await strand(fresh);
    expect(await migrate(fresh)).toContain("0007_dependants.sql");
    const after = await states(fresh, Object.values(stranded));
    expect(after[stranded.emptied]!.state).toBe("available");
    expect(after[stranded.orphaned]!.state).toBe("cancelled");
    expect(after[stranded.waiting]!.state).toBe("blocked");
  });

  test("each broker runs the sweep: a stranded dependant is unblocked", async () => {
    const broker = await startTestBroker({ broker: { retentionIntervalMs: 100 } });
    try {
      const stranded = await strand(broker.databaseUrl);
      await eventually(async () => (await states(broker.databaseUrl, [stranded.emptied]))[stranded.emptied]!.state === "available", {
        what: `stranded job ${stranded.emptied} to be repaired by the broker's sweep`,
      });
    } finally {
      await broker.stop();
    }
  });
});

async function createEmptyDatabase(): Promise<string> {
  const template = await createTestDatabase();
  const name = `baton_empty_${Math.random().toString(16).slice(2, 10)}`;
  await sql(template, `create database ${name}`);
  return withDatabase(template, name);
}
