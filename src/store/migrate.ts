import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";
import type { Logger } from "../util/log.js";

const migrationsDir = new URL("./sql/migrations/", import.meta.url);

/** Any constant shared by all replicas; it names the lock that serialises migrations. */
export const MIGRATION_LOCK_KEY = 0x6261746f6e; // "baton"

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

export interface MigrateOptions {
  /** Says what the start waits for: a database that does not answer, a migration lock held elsewhere. */
  log?: Logger;
  /** How long to keep retrying either before giving up with a StartupError. */
  startupTimeoutMs?: number;
  /** Bounds each connection attempt. */
  connectTimeoutMs?: number;
}

/** The database cannot be used by this binary, or did not become usable in time: the start ends here. */
export class StartupError extends Error {
  override readonly name = "StartupError";
}

/**
 * Applies the migrations not yet applied, each in its own transaction, under a session
 * advisory lock: replicas that start together wait for one another instead of racing.
 * Refuses a database that a newer release migrated (it has migrations this binary does not
 * know): its code may depend on columns, constraints or semantics this one would break.
 * Returns the names of the migrations it applied.
 */
export async function migrate(databaseUrl: string, options: MigrateOptions = {}): Promise<string[]> {
  const deadline = Date.now() + startupTimeoutMs(options);
  const client = await connectPatiently(databaseUrl, deadline, options);
  let locked = false;
  try {
    await lockPatiently(client, deadline, options);
    locked = true;
    await client.query(`
      create schema if not exists baton;
      create table if not exists baton.schema_migrations (
        version integer primary key,
        name text not null,
        applied_time timestamptz not null default now()
      )`);
    const { rows } = await client.query<{ version: number; name: string }>("select version, name from baton.schema_migrations order by version");
    const migrations = listMigrations();
    const known = new Set(migrations.map((migration) => migration.version));
    const unknown = rows.filter((row) => !known.has(row.version));
    if (unknown.length > 0) {
      throw new StartupError(
        `the database has migrations this baton does not know: ${unknown.map((row) => row.name).join(", ")}. ` +
          "A newer release migrated it; run that release (or a newer one) instead of this one",
      );
    }
    const applied = new Set(rows.map((row) => row.version));
    const done: string[] = [];
    for (const migration of migrations) {
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
    if (locked) await client.query("select pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

const startupTimeoutMs = (options: MigrateOptions) => options.startupTimeoutMs ?? 60_000;
const waited = (options: MigrateOptions) => `after ${startupTimeoutMs(options) / 1000} s (the startup timeout)`;

/** Capped exponential backoff with jitter, never past the deadline. */
function backoffMs(attempt: number, deadline: number): number {
  const delay = Math.min(5_000, 250 * 2 ** attempt) * (0.5 + Math.random() / 2);
  return Math.max(0, Math.min(delay, deadline - Date.now()));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** host:port/database of a URL, for messages: never its password. */
function describe(databaseUrl: string): string {
  try {
    const url = new URL(databaseUrl);
    return `${url.host}${url.pathname}`;
  } catch {
    return "the configured database";
  }
}

/**
 * Connects, retrying with backoff while the database refuses or does not answer: a broker
 * started with (or before) its database waits for it rather than failing at once, and one
 * whose database never answers says so and gives up at the deadline instead of hanging.
 * Migrations may take long, so this connection has no statement timeout.
 */
async function connectPatiently(databaseUrl: string, deadline: number, options: MigrateOptions): Promise<pg.Client> {
  const database = describe(databaseUrl);
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({
      connectionString: databaseUrl,
      application_name: "baton-migrate",
      connectionTimeoutMillis: Math.max(1, Math.min(options.connectTimeoutMs ?? 5_000, deadline - Date.now())),
      keepAlive: true,
    });
    // An error after connect (the server went away mid-migration) rejects the pending query.
    client.on("error", () => {});
    try {
      await client.connect();
      if (attempt > 1) options.log?.info("database answered", { database, attempts: attempt });
      return client;
    } catch (error) {
      await client.end().catch(() => {});
      // Wrong credentials or an unknown database do not heal by waiting.
      const code = (error as { code?: unknown }).code;
      if (typeof code === "string" && /^(28|3D)/.test(code)) throw error;
      const waitMs = backoffMs(attempt, deadline);
      if (waitMs <= 0) throw new StartupError(`gave up waiting for the database ${database} ${waited(options)}: ${attempt} connection attempts failed, the last with "${(error as Error).message}"`);
      options.log?.warn("waiting for the database", { database, attempt, error, retryInMs: Math.round(waitMs) });
      await sleep(waitMs);
    }
  }
}

/**
 * Takes the migration lock, retrying with backoff while another session holds it (another
 * replica migrating, or one stuck), and naming that session, so a start that waits says on
 * whom.
 */
async function lockPatiently(client: pg.Client, deadline: number, options: MigrateOptions): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { rows } = await client.query<{ locked: boolean }>("select pg_try_advisory_lock($1) as locked", [MIGRATION_LOCK_KEY]);
    if (rows[0]!.locked) return;
    const holder = await lockHolder(client);
    const waitMs = backoffMs(attempt, deadline);
    if (waitMs <= 0) {
      throw new StartupError(
        `gave up waiting for the migration lock ${waited(options)}: another session (pid ${holder.pid ?? "unknown"}, application "${holder.application ?? ""}") still holds it`,
      );
    }
    options.log?.warn("waiting for the migration lock, held by another session", { holderPid: holder.pid, holderApplication: holder.application, attempt, retryInMs: Math.round(waitMs) });
    await sleep(waitMs);
  }
}

/** The session holding the migration lock: a bigint advisory key shows as its high and low 32 bits. */
async function lockHolder(client: pg.Client): Promise<{ pid?: number; application?: string }> {
  const { rows } = await client.query<{ pid: number; application: string | null }>(
    `select l.pid, a.application_name as application
     from pg_locks l left join pg_stat_activity a on a.pid = l.pid
     where l.locktype = 'advisory' and l.granted and l.objsubid = 1
       and l.classid = $1::bigint::oid and l.objid = $2::bigint::oid
       and l.database = (select oid from pg_database where datname = current_database())`,
    [Math.floor(MIGRATION_LOCK_KEY / 2 ** 32), MIGRATION_LOCK_KEY % 2 ** 32],
  );
  return { pid: rows[0]?.pid, application: rows[0]?.application ?? undefined };
}
