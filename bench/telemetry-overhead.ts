/**
 * What the span triggers (migrations 0005 and 0010) cost the hot path: 10,000 jobs inserted in
 * batches of 1000 (JobInsertMany), then claimed (JobClaim) and acked (JobAckMany) 1000 at a
 * time, in four databases of one cluster: without the triggers; with them while no replica
 * exports spans; while one does, for jobs whose producer's traceparent says unsampled (-00);
 * and for sampled root jobs, which write their spans. Reports the minimum and median time of
 * each 1000-row statement over the runs; the minimum is the one to compare on a busy machine.
 *
 *   npx tsx bench/telemetry-overhead.ts [admin database URL] [runs] [jobs per run]
 *
 * Without a URL it starts an embedded PostgreSQL in a temporary directory.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { type Database, createDatabase } from "../src/store/database.js";
import { startEmbeddedPostgres } from "../src/store/embedded.js";
import { jobAckMany, jobClaim, jobInsertMany } from "../src/store/jobs.js";
import { migrate } from "../src/store/migrate.js";

const BATCH = 1000;
/** Jobs per run (a multiple of BATCH); one batch keeps every statement on a near-empty table. */
const JOBS = Number(process.argv[4] ?? 10_000);
const modes = ["no triggers", "spans off", "unsampled", "sampled"] as const;
type Mode = (typeof modes)[number];

async function main() {
  const runs = Number(process.argv[3] ?? 12);
  let adminUrl = process.argv[2];
  let cleanup = async () => {};
  if (!adminUrl) {
    const dir = mkdtempSync(path.join(tmpdir(), "baton-telemetry-bench-"));
    const embedded = await startEmbeddedPostgres(dir);
    adminUrl = embedded.url;
    cleanup = async () => {
      await embedded.stop();
      rmSync(dir, { recursive: true, force: true });
    };
  }
  const dbs = new Map<Mode, Database>();
  try {
    for (const [i, mode] of modes.entries()) dbs.set(mode, await prepare(adminUrl, `baton_telemetry_bench_${i}`, mode));
    const samples = new Map<string, number[]>();
    const record = (mode: Mode, step: string, ms: number) => samples.set(`${mode}\0${step}`, [...(samples.get(`${mode}\0${step}`) ?? []), ms]);
    for (let run = 0; run < runs; run++) {
      // Rotated, so no mode always runs right after another's cleanup.
      for (const mode of [...modes.slice(run % modes.length), ...modes.slice(0, run % modes.length)]) {
        const times = await lifecycle(dbs.get(mode)!, mode === "unsampled" ? { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00" } : {});
        if (run === 0) continue; // warm-up: plans, caches
        for (const [step, list] of Object.entries(times)) for (const ms of list) record(mode, step, ms);
      }
    }
    const quantile = (list: number[], q: number) => [...list].sort((a, b) => a - b)[Math.floor((list.length - 1) * q)]!;
    console.log(`ms per ${BATCH}-row statement (min / median over ${runs - 1} runs of ${JOBS} jobs)`);
    for (const mode of modes) {
      const line = ["insert", "claim", "ack", "outbox delete"].map((step) => {
        const list = samples.get(`${mode}\0${step}`) ?? [0];
        return `${step} ${quantile(list, 0).toFixed(1)} / ${quantile(list, 0.5).toFixed(1)}`;
      });
      console.log(`${mode.padEnd(17)} ${line.join("   ")}`);
    }
  } finally {
    for (const db of dbs.values()) await db.close();
    await cleanup();
  }
}

async function prepare(adminUrl: string, name: string, mode: Mode): Promise<Database> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${name} with (force)`);
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  const db = createDatabase({ url: url.toString(), maxConnections: 1 });
  if (mode === "no triggers") {
    await db.pool.query(
      "drop trigger jobs_trace_context on baton.jobs; drop trigger jobs_inserted_telemetry on baton.jobs; drop trigger jobs_updated_telemetry on baton.jobs",
    );
  }
  // As if a replica's relay were running: the triggers write spans of sampled traces.
  if (mode === "unsampled" || mode === "sampled") await db.pool.query("insert into baton.span_exporters values ('bench', 'infinity')");
  return db;
}

async function lifecycle(db: Database, headers: Record<string, string>): Promise<Record<string, number[]>> {
  const times: Record<string, number[]> = { insert: [], claim: [], ack: [], "outbox delete": [] };
  const timed = async <T>(step: string, work: () => Promise<T>) => {
    const start = performance.now();
    const result = await work();
    times[step]!.push(performance.now() - start);
    return result;
  };
  const payload = new Uint8Array(64);
  for (let i = 0; i < JOBS; i += BATCH) {
    await timed("insert", () => jobInsertMany(db, Array.from({ length: BATCH }, () => ({ queue: "bench", payload, headers, priority: 0 }))));
  }
  for (;;) {
    const { jobs } = await timed("claim", () => jobClaim(db, { queues: ["bench"], limit: BATCH, leaseSeconds: 30, owner: "bench" }));
    if (jobs.length === 0) break;
    await timed("ack", () => jobAckMany(db, jobs.map((j) => ({ jobId: j.id, leaseToken: j.leaseToken, result: new Uint8Array() }))));
  }
  times.claim!.pop(); // the empty claim that ended the loop
  // The relay's share in the database: deleting what it exported.
  await timed("outbox delete", () => db.pool.query("delete from baton.span_outbox"));
  await db.pool.query("delete from baton.jobs");
  await db.pool.query("vacuum baton.jobs, baton.span_outbox");
  return times;
}

await main();
