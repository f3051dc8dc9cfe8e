#!/usr/bin/env node
import { parseArgs } from "node:util";
import { loadConfig, settings } from "../config.js";
import { type RunningServer, startServer } from "../server/server.js";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../store/embedded.js";
import { migrate } from "../store/migrate.js";
import { createLogger } from "../telemetry/log.js";

const usage = `usage: baton <command> [flags]

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

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      port: { type: "string" },
      "data-dir": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  const command = positionals[0];
  if (values.help || command === undefined) {
    process.stdout.write(usage);
    return command === undefined && !values.help ? 2 : 0;
  }
  const config = loadConfig(process.env, {
    ...(values.port !== undefined && { port: settings.port.parse(values.port) }),
    ...(values["data-dir"] !== undefined && { dataDir: values["data-dir"] }),
  });
  const log = createLogger({ service: "baton" });

  switch (command) {
    case "serve":
      return serve(config, log);
    case "migrate": {
      const { url, embedded } = await resolveDatabase(config.databaseUrl, config.dataDir, log);
      const applied = await migrate(url);
      log.info(applied.length > 0 ? "applied migrations" : "database is up to date", { migrations: applied });
      await embedded?.stop();
      return 0;
    }
    default:
      process.stderr.write(`baton: unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}

async function resolveDatabase(url: string | undefined, dataDir: string, log: ReturnType<typeof createLogger>) {
  if (url) return { url, embedded: undefined as EmbeddedDatabase | undefined };
  log.warn("no BATON_DATABASE_URL or DATABASE_URL: starting embedded PostgreSQL (development only)", { dataDir });
  const embedded = await startEmbeddedPostgres(dataDir);
  log.info("embedded PostgreSQL started", { dataDir: embedded.dataDir });
  return { url: embedded.url, embedded };
}

async function serve(config: ReturnType<typeof loadConfig>, log: ReturnType<typeof createLogger>): Promise<number> {
  const { url, embedded } = await resolveDatabase(config.databaseUrl, config.dataDir, log);
  let server: RunningServer;
  try {
    server = await startServer({ ...config, databaseUrl: url }, log);
  } catch (error) {
    await embedded?.stop();
    throw error;
  }
  await new Promise<void>((resolve) => {
    const onSignal = (signal: string) => {
      log.info("shutting down", { signal, drainMs: config.drainMs });
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  await server.stop();
  await embedded?.stop();
  log.info("stopped");
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`baton: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
