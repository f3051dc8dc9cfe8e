/**
 * `baton serve` and `baton migrate` in their own processes, against databases they cannot use:
 * one that accepts connections and never answers, one whose migration lock another session
 * holds, and one that a newer release migrated. Each start says what it waits for, and gives up
 * with a clear line and a failed exit instead of hanging or starting silently.
 */
import net from "node:net";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { MIGRATION_LOCK_KEY } from "../src/store/migrate.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { type ChildEnv, type TestProcess, killAll, spawnTs } from "./helpers/process.js";
import { eventually } from "./helpers/wait.js";

const processes: TestProcess[] = [];
afterAll(() => killAll(processes));

const COMMANDS = ["serve", "migrate"] as const;

function start(command: (typeof COMMANDS)[number], databaseUrl: string, env: ChildEnv = {}): TestProcess {
  const child = spawnTs("src/cli/main.ts", { BATON_DATABASE_URL: databaseUrl, BATON_HOST: "127.0.0.1", BATON_PORT: "0", BATON_LOG_LEVEL: "info", ...env }, [command]);
  processes.push(child);
  return child;
}

/** The exit code, failing clearly (not by the test's timeout) if the process keeps running. */
async function exitCode(child: TestProcess, what: string): Promise<number | string> {
  let code: number | string | undefined;
  void child.exited.then((c) => (code = c));
  await eventually(() => code !== undefined, { timeoutMs: 30_000, what });
  return code!;
}

const lastError = (child: TestProcess) => child.events.filter((e) => e.level === "error").at(-1)?.msg;

describe("a database that accepts connections and never answers", () => {
  let silent: net.Server;
  let connections = 0;
  const sockets = new Set<net.Socket>();
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => silent?.close(resolve));
  });

  test.each(COMMANDS)("baton %s logs that it waits for the database, retries, then exits 1 naming it", async (command) => {
    silent ??= await new Promise<net.Server>((resolve) => {
      // Swallows every byte: the PostgreSQL startup message is never answered.
      const server = net.createServer((socket) => {
        connections++;
        sockets.add(socket);
        socket.on("data", () => {});
        socket.on("error", () => {});
      });
      server.listen(0, "127.0.0.1", () => resolve(server));
    });
    const port = (silent.address() as net.AddressInfo).port;
    const before = connections;
    const child = start(command, `postgres://baton:secret-password@127.0.0.1:${port}/baton`, {
      BATON_DB_CONNECT_TIMEOUT_SECONDS: "0.5",
      BATON_DB_STARTUP_TIMEOUT_SECONDS: "2",
    });
    expect(await exitCode(child, `baton ${command} to give up`)).toBe(1);
    const waits = child.events.filter((e) => e.msg === "waiting for the database");
    expect(waits.length).toBeGreaterThanOrEqual(1);
    expect(waits[0]).toMatchObject({ level: "warn", database: `127.0.0.1:${port}/baton`, attempt: 1, error: { message: "timeout expired" } });
    expect(connections - before).toBe(waits.length + 1);
    expect(lastError(child)).toMatch(new RegExp(`^gave up waiting for the database 127\\.0\\.0\\.1:${port}/baton after 2 s`));
    expect(JSON.stringify(child.events)).not.toContain("secret-password");
    expect(child.events.some((e) => e.msg === "baton serving")).toBe(false);
  });
});

describe("another session holds the migration lock", () => {
  async function holdLock(databaseUrl: string): Promise<{ pid: number; release(): Promise<void> }> {
    const holder = new pg.Client({ connectionString: databaseUrl, application_name: "stuck-migrator" });
    await holder.connect();
    const { rows } = await holder.query<{ pid: number }>("select pg_backend_pid() as pid, pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    return { pid: rows[0]!.pid, release: () => holder.end() };
  }

  test.each(COMMANDS)("baton %s names the holder while it waits, then exits 1 when the lock stays held", async (command) => {
    const databaseUrl = await createTestDatabase();
    const lock = await holdLock(databaseUrl);
    try {
      const child = start(command, databaseUrl, { BATON_DB_STARTUP_TIMEOUT_SECONDS: "2" });
      expect(await exitCode(child, `baton ${command} to give up`)).toBe(1);
      const waits = child.events.filter((e) => e.msg === "waiting for the migration lock, held by another session");
      expect(waits[0]).toMatchObject({ level: "warn", holderPid: lock.pid, holderApplication: "stuck-migrator", attempt: 1 });
      expect(lastError(child)).toMatch(new RegExp(`^gave up waiting for the migration lock after 2 s.*pid ${lock.pid}, application "stuck-migrator"`));
      expect(child.events.some((e) => e.msg === "baton serving")).toBe(false);
    } finally {
      await lock.release();
    }
  });

  test("baton migrate goes on as soon as the lock is released", async () => {
    const databaseUrl = await createTestDatabase();
    const lock = await holdLock(databaseUrl);
    const child = start("migrate", databaseUrl, { BATON_DB_STARTUP_TIMEOUT_SECONDS: "60" });
    await child.waitFor((e) => e.msg === "waiting for the migration lock, held by another session");
    await lock.release();
    expect(await exitCode(child, "baton migrate to finish")).toBe(0);
    expect(child.events.some((e) => e.msg === "database is up to date")).toBe(true);
  });
});

describe("a database migrated by a newer release", () => {
  test.each(COMMANDS)("baton %s refuses it, naming the migrations it does not know", async (command) => {
    const databaseUrl = await createTestDatabase();
    await sql(databaseUrl, "insert into baton.schema_migrations (version, name) values (9999, '9999_from_a_newer_release.sql')");
    const child = start(command, databaseUrl);
    expect(await exitCode(child, `baton ${command} to refuse the database`)).toBe(1);
    expect(lastError(child)).toMatch(/^the database has migrations this baton does not know: 9999_from_a_newer_release\.sql\. A newer release migrated it/);
    expect(child.events.some((e) => e.msg === "database is up to date" || e.msg === "baton serving")).toBe(false);
  });
});
