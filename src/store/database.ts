import pg from "pg";

/** A typed query against a named prepared statement. */
export interface NamedQuery {
  name: string;
  text: string;
  values: unknown[];
}

/** Anything that runs queries: the pool, or a client inside a transaction. */
export interface Queryable {
  query<Row extends pg.QueryResultRow>(query: NamedQuery): Promise<pg.QueryResult<Row>>;
}

export interface DatabaseOptions {
  url: string;
  /** Pool size. Hot-path statements are batched, so a handful of connections serve a replica. */
  maxConnections?: number;
  /** Shown in pg_stat_activity, so operators can tell Baton's connections apart. */
  applicationName?: string;
}

export interface Database extends Queryable {
  readonly pool: pg.Pool;
  /** Runs `work` in one transaction; rolls back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function createDatabase(options: DatabaseOptions): Database {
  const pool = new pg.Pool({
    connectionString: withGenericPlans(options.url),
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? "baton",
  });
  // A connection killed by the server (restart, pg_terminate_backend) must not crash the
  // process; the pool drops it and the next query opens a new one.
  pool.on("error", () => {});
  return {
    pool,
    query: (query) => pool.query(query),
    async transaction(work) {
      const client = await pool.connect();
      // A checked-out client has no listener of the pool's; without one, a connection killed
      // mid-transaction (server restart, pg_terminate_backend) would crash the process. The
      // failure still reaches the caller through the pending query.
      const ignore = () => {};
      client.on("error", ignore);
      try {
        await client.query("begin");
        const result = await work(client);
        await client.query("commit");
        return result;
      } catch (error) {
        await client.query("rollback").catch(() => {});
        throw error;
      } finally {
        client.off("error", ignore);
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

/**
 * Adds `plan_cache_mode=force_generic_plan` to the connection's startup options, keeping any the
 * URL (or PGOPTIONS) already sets. Every hot statement is a prepared batch over arrays: the
 * planner cannot know the batch size, so it prices the reusable (generic) plan for several rows
 * and, for a one-job call, prefers to plan again each time, 0.6 ms of a 1.6 ms single-job
 * enqueue. The generic plans are the ones batches use anyway.
 */
function withGenericPlans(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const existing = parsed.searchParams.get("options") ?? process.env.PGOPTIONS;
  parsed.searchParams.set("options", [existing, "-c plan_cache_mode=force_generic_plan"].filter(Boolean).join(" "));
  return parsed.toString();
}
