/**
 * `npx tsx bench/statements.ts`: the database time of Baton's three hot statements for a batch
 * of 1,000 jobs (JobInsertMany, JobClaim, JobAckMany, exactly as the broker sends them, on one
 * connection), with every trigger of baton.jobs on (no replica exports spans), then with the
 * span triggers (migrations 0005, 0010) disabled, next to the SQL floor's statements. Tells where the database time
 * of a Baton job goes. BENCH_STATEMENT_ROUNDS (default 20) batches per variant.
 */
import { performance } from "node:perf_hooks";
import pg from "pg";
import { createDatabase } from "../src/store/database.js";
import { jobAckMany, jobClaim, jobInsertMany } from "../src/store/jobs.js";
import { migrate } from "../src/store/migrate.js";
import { killChildren } from "./children.js";
import { startBenchPostgres } from "./postgres.js";

const ROUNDS = Number(process.env.BENCH_STATEMENT_ROUNDS ?? 20);
const BATCH = 1000;
const TRACING_TRIGGERS = ["jobs_trace_context", "jobs_inserted_telemetry", "jobs_updated_telemetry"];

const postgres = await startBenchPostgres();
try {
  const url = await postgres.createDatabase("bench_statements");
  await migrate(url);
  const db = createDatabase({ url, maxConnections: 1 });
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const variant = async (label: string) => {
    const times = { insert: [] as number[], claim: [] as number[], ack: [] as number[] };
    for (let round = 0; round < ROUNDS + 2; round++) {
      const jobs = Array.from({ length: BATCH }, (_, i) => ({
        queue: "stmt",
        payload: Buffer.from(JSON.stringify({ i })),
        headers: {},
        priority: 0,
      }));
      let t = performance.now();
      await jobInsertMany(db, jobs);
      const insert = performance.now() - t;
      t = performance.now();
      const { jobs: claimed } = await jobClaim(db, { queues: ["stmt"], limit: BATCH, leaseSeconds: 30, owner: "bench" });
      const claim = performance.now() - t;
      t = performance.now();
      await jobAckMany(db, claimed.map((j) => ({ jobId: j.id, leaseToken: j.leaseToken, result: new Uint8Array() })));
      const ack = performance.now() - t;
      await admin.query("delete from baton.jobs");
      // The first rounds warm up plans and caches.
      if (round < 2) continue;
      times.insert.push(insert);
      times.claim.push(claim);
      times.ack.push(ack);
    }
    const [i, c, a] = [median(times.insert), median(times.claim), median(times.ack)];
    process.stdout.write(
      `${label.padEnd(34)} insert ${i.toFixed(1).padStart(6)} ms  claim ${c.toFixed(1).padStart(6)} ms  ack ${a.toFixed(1).padStart(6)} ms  ` +
        `lifecycle ${(i + c + a).toFixed(1).padStart(6)} ms = ${Math.round((BATCH * 1000) / (i + c + a))} jobs/s\n`,
    );
  };
  process.stdout.write(`median per statement, batches of ${BATCH}, ${ROUNDS} rounds, one connection\n`);
  await variant("all triggers");
  for (const name of TRACING_TRIGGERS) await admin.query(`alter table baton.jobs disable trigger ${name}`);
  await variant("span triggers disabled");
  for (const name of TRACING_TRIGGERS) await admin.query(`alter table baton.jobs enable trigger ${name}`);
  await variant("all triggers, again");
  await admin.end();
  await db.close();
} finally {
  killChildren();
  await postgres.stop();
}
