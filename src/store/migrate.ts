import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";

const migrationsDir = new URL("./sql/migrations/", import.meta.url);

/** Any constant shared by all replicas; it names the lock that serialises migrations. */
const MIGRATION_LOCK_KEY = 0x6261746f6e; // "baton"

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function listMigrations(): Migration[] {
  return readdirSync(migrationsDir)
    .filter((file) => /^\d{4}_.+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file,
      sql: readFileSync(new URL(file, migrationsDir), "utf8"),
    }));
}

/**
 * Applies the migrations not yet applied, each in its own transaction, under a session
 * advisory lock: replicas that start together wait for one another instead of racing.
 * Returns the names of the migrations it applied.
 */
export async function migrate(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "baton-migrate" });
  await client.connect();
  try {
    await client.query("select pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    await client.query(`
      create schema if not exists baton;
      create table if not exists baton.schema_migrations (
        version integer primary key,
        name text not null,
        applied_time timestamptz not null default now()
      )`);
    const { rows } = await client.query<{ version: number }>("select version from baton.schema_migrations");
    const applied = new Set(rows.map((row) => row.version));
    const done: string[] = [];
    for (const migration of listMigrations()) {
      if (applied.has(migration.version)) continue;
      await client.query("begin");
      try {
        await client.query(migration.sql);
        await client.query("insert into baton.schema_migrations (version, name) values ($1, $2)", [
          migration.version,
          migration.name,
        ]);
        await client.query("commit");
      } catch (error) {
        await client.query("rollback");
        throw new Error(`migration ${migration.name} failed: ${(error as Error).message}`, { cause: error });
      }
      done.push(migration.name);
    }
    return done;
  } finally {
    await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    await client.end();
  }
}
