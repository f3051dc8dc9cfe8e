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
