import pg from "pg";
import { expect, inject, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { listMigrations, migrate } from "../src/store/migrate.js";
import { withDatabase } from "./setup/global-postgres.js";
import { sql } from "./helpers/database.js";
import { spawnTs } from "./helpers/process.js";

async function emptyDatabase(): Promise<string> {
  const adminUrl = inject("adminDatabaseUrl");
  const name = `baton_empty_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  return withDatabase(adminUrl, name);
}

test("replicas migrating at once apply each migration exactly once", async () => {
  const url = await emptyDatabase();
  const results = await Promise.all([migrate(url), migrate(url), migrate(url)]);
  expect(results.flat()).toEqual(listMigrations().map((m) => m.name));
  const rows = await sql<{ version: number }>(url, "select version from baton.schema_migrations order by version");
  expect(rows.map((r) => r.version)).toEqual(listMigrations().map((m) => m.version));
});

test("baton migrate applies the migrations and reports when there is nothing left to do", async () => {
  const url = await emptyDatabase();
  const first = spawnTs("src/cli/main.ts", { BATON_DATABASE_URL: url }, ["migrate"]);
  expect(await first.exited).toBe(0);
  expect(first.events.find((e) => e.msg === "applied migrations")?.migrations).toEqual(listMigrations().map((m) => m.name));
  const second = spawnTs("src/cli/main.ts", { BATON_DATABASE_URL: url }, ["migrate"]);
  expect(await second.exited).toBe(0);
  expect(second.events.some((e) => e.msg === "database is up to date")).toBe(true);
});

test("the schema's constraints reject rows that break the job invariants", async () => {
  const url = await emptyDatabase();
  await migrate(url);
  const insert = (columns: string) =>
    sql(url, `insert into baton.jobs (queue, max_attempts, chain_id, state, attempt) values ${columns}`).then(
      () => "accepted",
      (error: { constraint?: string }) => error.constraint,
    );
  expect(await insert("('bad queue', 3, 1, 'available', 0)")).toBe("queue_name_valid");
  expect(await insert("('q', 0, 1, 'available', 0)")).toBe("max_attempts_positive");
  expect(await insert("('q', 3, 1, 'available', 4)")).toBe("attempt_within_budget");
  expect(await insert("('q', 3, 1, 'leased', 1)")).toBe("leased_iff_lease");
  expect(await insert("('q', 3, 1, 'succeeded', 1)")).toBe("finished_iff_finish_time");
  expect(await insert("('q', 3, 1, 'available', 0)")).toBe("accepted");
});

test("a malformed setting is an error that names the variable, not a silent default", () => {
  expect(() => loadConfig({ BATON_PORT: "seventy" })).toThrow('BATON_PORT must be an integer >= 0, got "seventy"');
  expect(() => loadConfig({ BATON_LEASE_SECONDS: "-1" })).toThrow(/BATON_LEASE_SECONDS must be a positive number/);
  expect(() => loadConfig({ BATON_DB_STATEMENT_TIMEOUT_SECONDS: "20" })).toThrow(
    "BATON_DB_QUERY_TIMEOUT_SECONDS (15) must be greater than BATON_DB_STATEMENT_TIMEOUT_SECONDS (20)",
  );
  expect(loadConfig({ DATABASE_URL: "postgres://x" }).databaseUrl).toBe("postgres://x");
  expect(loadConfig({ DATABASE_URL: "postgres://x", BATON_DATABASE_URL: "postgres://y" }).databaseUrl).toBe("postgres://y");
});
