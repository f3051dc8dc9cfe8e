/**
 * The pool's timeouts against a real PostgreSQL that is slow rather than gone (a partition is
 * test/faults/partition.test.ts): a statement stuck behind a lock is cancelled at
 * statement_timeout and answered DEADLINE_EXCEEDED without SQL text, and a session left idle
 * inside a transaction is ended by the server, which frees its locks.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { BatonError } from "../src/errors.js";
import { createDatabase } from "../src/store/database.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { eventually } from "./helpers/wait.js";

const timeouts = { connectMs: 2_000, statementMs: 500, queryMs: 5_000, idleInTransactionMs: 500 };
let broker: TestBroker;

beforeAll(async () => {
  const defaults = loadConfig({}).database;
  broker = await startTestBroker({ database: { ...defaults, timeouts } });
});
afterAll(() => broker?.stop());

test("a statement stuck behind a row lock past the statement timeout is DEADLINE_EXCEEDED, with a retry hint and no SQL", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "locked" });
  const locker = new pg.Client({ connectionString: broker.databaseUrl });
  await locker.connect();
  try {
    await locker.query("begin");
    await locker.query("select 1 from baton.jobs where id = $1 for update", [job!.id]);
    // A client deadline far above the statement timeout: before the fix, only it ended the call.
    const error = await broker.jobs.cancelJob({ id: job!.id }, { timeoutMs: 20_000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.DeadlineExceeded);
    expect((error as ConnectError).rawMessage).toBe("the database did not finish the request within the statement timeout; retry in 1 s");
  } finally {
    await locker.query("rollback");
    await locker.end();
  }
  // Nothing was left behind: the same call succeeds once the lock is gone.
  expect((await broker.jobs.cancelJob({ id: job!.id })).job!.id).toBe(job!.id);
});

test("pool connections carry the timeouts; a transaction left idle past its timeout is ended by the server, freeing its locks", async () => {
  const url = await createTestDatabase();
  const db = createDatabase({ url, maxConnections: 1, applicationName: "idle-in-transaction", timeouts });
  try {
    const show = async (setting: string) => (await db.pool.query(`show ${setting}`)).rows[0][setting];
    expect(await show("statement_timeout")).toBe("500ms");
    expect(await show("idle_in_transaction_session_timeout")).toBe("500ms");
    await sql(url, "create table held (id int primary key); insert into held values (1)");

    const outcome = await db
      .transaction(async (tx) => {
        await tx.query({ name: "LockHeld", text: "select id from held where id = 1 for update", values: [] });
        // The broker stalls mid-transaction (a partition, a frozen process): the server ends
        // the session, so another session can take the row.
        await eventually(async () => (await sql(url, "select id from held where id = 1 for update nowait").then(() => true, () => false)), {
          what: "the server to end the idle transaction and free its row lock",
        });
        await tx.query({ name: "AfterIdle", text: "select 1", values: [] });
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(outcome).toBeInstanceOf(BatonError);
    expect(outcome).toMatchObject({ code: "unavailable", message: "database unavailable; retry in 1 s" });
    // The pool replaced the dead connection.
    expect(await show("idle_in_transaction_session_timeout")).toBe("500ms");
  } finally {
    await db.close();
  }
});
