import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { TEMPLATE_DATABASE, withDatabase } from "../setup/global-postgres.js";

/** A fresh, migrated database of its own, cloned from the template in one statement. */
export async function createTestDatabase(): Promise<string> {
  const adminUrl = inject("adminDatabaseUrl");
  const name = `baton_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${TEMPLATE_DATABASE}`);
  } finally {
    await admin.end();
  }
  return withDatabase(adminUrl, name);
}

/** Runs one query on its own connection; for assertions and fault injection in tests. */
export async function sql<Row extends pg.QueryResultRow = pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/**
 * Records into public.<table> (dedup_key) every job insert whose dedup_key is LIKE `pattern`,
 * those a dedup key then absorbs included: a fire time fired twice cannot hide behind
 * deduplication.
 */
export async function logJobInserts(url: string, table: string, pattern: string): Promise<void> {
  await sql(
    url,
    `create table public.${table} (dedup_key text not null);
     create function public.${table}_insert() returns trigger language plpgsql as
       $$ begin insert into public.${table} values (new.dedup_key); return new; end $$;
     create trigger ${table}_insert before insert on baton.jobs
       for each row when (new.dedup_key like '${pattern}') execute function public.${table}_insert();`,
  );
}
