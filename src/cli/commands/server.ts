import { parseArgs } from "node:util";
import { loadConfig, settings } from "../../config.js";
import { type RunningServer, startServer } from "../../server/server.js";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../store/embedded.js";
import { StartupError, migrate } from "../../store/migrate.js";
import { createLogger } from "../../util/log.js";
import { startTracingSdk } from "../../telemetry/sdk.js";
import { ExitCode, UsageError } from "../errors.js";
import { stopOnFatalErrors } from "../fatal-errors.js";

/**
 * `baton serve` and `baton migrate`: the commands that run against the database rather than
 * talk to a broker. main.ts imports this module only for them, so the client commands start
 * without loading the server.
 */

export const serverUsage = `usage: baton serve|migrate [flags]

commands:
  serve     run the broker (embedded PostgreSQL unless BATON_DATABASE_URL or DATABASE_URL is set)
  migrate   apply database migrations and exit

flags:
  --port <n>        listen port (BATON_PORT, default 7600)
  --data-dir <dir>  embedded database directory (BATON_DATA_DIR, default .baton)
  -h, --help        show this help

Every setting is also read from the environment:
${Object.values(settings)
  .map((s) => `  ${s.env.padEnd(28)} ${s.description} (default ${s.default})`)
  .join("\n")}
`;

type Logger = ReturnType<typeof createLogger>;

/** After a fatal error, the time shutdown gets beyond the drain before the process exits anyway. */
const FATAL_STOP_MARGIN_MS = 10_000;

/** Runs `serve` or `migrate`; `argv` is the whole command line after `baton`. */
export async function runServerCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: "string" },
        "data-dir": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message.split("\n")[0]!);
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help) {
    process.stdout.write(serverUsage);
    return 0;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const config = loadConfig(process.env, {
    ...(values.port !== undefined && { port: settings.port.parse(values.port) }),
    ...(values["data-dir"] !== undefined && { dataDir: values["data-dir"] }),
  });
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

async function resolveDatabase(url: string | undefined, dataDir: string, log: Logger) {
  if (url) return { url, embedded: undefined as EmbeddedDatabase | undefined };
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
    server = await startServer({ ...config, databaseUrl: url }, log);
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
