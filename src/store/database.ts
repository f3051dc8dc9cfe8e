import pg from "pg";
import { BatonError } from "../errors.js";
import type { DatabaseAvailability } from "./availability.js";

/** A typed query against a named prepared statement, or unprepared when it has no name. */
export interface NamedQuery {
  name?: string;
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
  /** Without them a statement may wait forever on a database that stopped answering. */
  timeouts?: DatabaseTimeouts;
  /** While it says the database is down, queries fail at once; failures make it look again. */
  availability?: DatabaseAvailability;
}

export interface DatabaseTimeouts {
  /** Opening a connection, and waiting for a free one of the pool. */
  connectMs: number;
  /** statement_timeout: PostgreSQL cancels a statement that runs longer. */
  statementMs: number;
  /**
   * The longest wait for any answer. Longer than statementMs, so it only fires when the
   * server cannot answer at all (a network partition); the connection is then discarded.
   */
  queryMs: number;
  /** idle_in_transaction_session_timeout: the server ends the session of a vanished broker, freeing its locks. */
  idleInTransactionMs: number;
}

export interface Database extends Queryable {
  readonly pool: pg.Pool;
  readonly timeouts: DatabaseTimeouts | undefined;
  readonly availability: DatabaseAvailability | undefined;
  /** Runs `work` in one transaction; rolls back if it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function createDatabase(options: DatabaseOptions): Database {
  const { timeouts, availability } = options;
  const pool = new pg.Pool({
    connectionString: withGenericPlans(options.url),
    max: options.maxConnections ?? 10,
    application_name: options.applicationName ?? "baton",
    ...(timeouts && {
      connectionTimeoutMillis: timeouts.connectMs,
      statement_timeout: timeouts.statementMs,
      query_timeout: timeouts.queryMs,
      idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
      // The operating system's keepalive notices a dead peer of an idle connection.
      keepAlive: true,
    }),
  });
  // A connection killed by the server (restart, pg_terminate_backend) must not crash the
  // process; the pool drops it and the next query opens a new one.
  pool.on("error", () => {});
  const retryAfterMs = availability?.retryAfterMs ?? 1_000;
  /** An unreachable or timed-out database, as an error a client can act on; undefined for other errors. */
  const explain = (error: unknown): BatonError | undefined => {
    const failure = classifyFailure(error, retryAfterMs);
    if (failure?.code === "unavailable") availability?.suspect();
    return failure;
  };
  return {
    pool,
    timeouts,
    availability,
    async query(query) {
      availability?.assertReachable();
      try {
        return await pool.query(query);
      } catch (error) {
        throw explain(error) ?? error;
      }
    },
    async transaction(work) {
      availability?.assertReachable();
      const client = await pool.connect().catch((error: unknown) => {
        throw explain(error) ?? error;
      });
      // A checked-out client has no listener of the pool's; without one, a connection killed
      // mid-transaction (server restart, pg_terminate_backend) would crash the process. The
      // failure still reaches the caller through the pending query.
      const ignore = () => {};
      client.on("error", ignore);
      let broken: unknown;
      try {
        await client.query("begin");
        const result = await work(client);
        await client.query("commit");
        return result;
      } catch (error) {
        const failure = explain(error);
        // A connection that timed out may still be inside its statement: a rollback would
        // queue behind it. Discarding the connection ends the transaction just as well.
        if (failure?.code === "unavailable") broken = failure;
        else await client.query("rollback").catch((rollbackError: unknown) => (broken = rollbackError));
        throw failure ?? error;
      } finally {
        client.off("error", ignore);
        client.release(broken as Error | undefined);
      }
    },
    close: () => pool.end(),
  };
}

/** Connection failures and shutdowns: worth a retry. Protocol violations (08P01) are bugs. */
const UNAVAILABLE_SQLSTATES = new Set(["08000", "08001", "08003", "08004", "08006", "57P01", "57P02", "57P03"]);
const UNAVAILABLE_SYSCALL_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
/** node-postgres says these without a code: a connect or pool-checkout timeout, a read timeout, a dropped connection. */
const UNAVAILABLE_MESSAGES = /^(timeout expired|timeout exceeded when trying to connect|Query read timeout|Connection terminated|Client has encountered a connection error)/;

/**
 * The client-facing error for a database failure that is not the request's fault: UNAVAILABLE
 * with a retry hint when the database cannot be reached or did not answer, DEADLINE_EXCEEDED
 * when it cancelled a statement at statement_timeout, ABORTED when a deadlock or serialization
 * failure rolled the request back. The driver's error stays as the cause
 * (for logs); its text, which may name hosts or SQL, never reaches a client. Anything else is
 * returned as undefined.
 */
function classifyFailure(error: unknown, retryAfterMs: number): BatonError | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  const retry = `retry in ${Math.max(1, Math.ceil(retryAfterMs / 1000))} s`;
  if (code === "57014" && /statement timeout/.test(error.message)) {
    return new BatonError("deadline_exceeded", `the database did not finish the request within the statement timeout; ${retry}`, { cause: error, retryAfterMs });
  }
  // A deadlock or serialization failure between concurrent requests rolled this one back:
  // nothing of it took effect, and the same request can simply run again.
  if (code === "40P01" || code === "40001") {
    return new BatonError("aborted", "the request collided with a concurrent one and was rolled back; retry it", { cause: error, retryAfterMs: 0 });
  }
  const unreachable =
    typeof code === "string" ? UNAVAILABLE_SQLSTATES.has(code) || UNAVAILABLE_SYSCALL_CODES.has(code) : UNAVAILABLE_MESSAGES.test(error.message);
  return unreachable ? new BatonError("unavailable", `database unavailable; ${retry}`, { cause: error, retryAfterMs }) : undefined;
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
