import { type Job, PgBoss } from "pg-boss";
import pg from "pg";
import { type BenchQueues, type JobPayload, type OnJob, PHASES, type PerPhase, type WorkerHandle, type WorkerSpec } from "../protocol.js";
import { installedVersion } from "../versions.js";
import type { SystemFactory } from "./system.js";

/**
 * pg-boss 12 (its package declares Node >= 22.12, but every call the bench makes runs on
 * Node 20; bench/README.md). Workers poll; the tuned setup uses what pg-boss offers to go fast:
 * - `work()` with `localConcurrency` fetch loops per queue that gets jobs in bulk (drain, mixed
 *   load), each fetching `batchSize` jobs, running the handler on the batch and completing it
 *   in one statement, with `burstWhenBatchFull` (fetch again at once while batches come back
 *   full) and the shortest polling interval allowed (0.5 s);
 * - LISTEN/NOTIFY (`useListenNotify`, queues created with `notify: true`), so an idle worker
 *   is woken by an insert instead of its next poll;
 * - `insert()` for batches, `send()` for single jobs.
 * Its defaults (batchSize 1, poll every 2 s, no notify) would drain 0.5 jobs/s per worker, so
 * only the tuned setup is measured.
 */
const LOCAL_CONCURRENCY = 4;
const BATCH_SIZE = 250;
const POLLING_INTERVAL_SECONDS = 0.5;

export const createPgBoss: SystemFactory = async ({ postgres, config, queues }) => {
  const connectionString = await postgres.createDatabase("bench_pgboss");
  const problems: string[] = [];
  const boss = new PgBoss({ connectionString, max: 4, schedule: false, useListenNotify: true });
  boss.on("error", (error: Error) => problems.push(`pg-boss: ${error.message}`));
  await boss.start();
  for (const phase of PHASES) await boss.createQueue(queues[phase], { notify: true });
  const db = new pg.Pool({ connectionString, max: 2 });
  return {
    key: "pgboss-tuned",
    version: installedVersion("pg-boss"),
    description:
      `${config.workerProcesses} worker processes x work() with localConcurrency ${LOCAL_CONCURRENCY} per bulk queue, batchSize ${BATCH_SIZE}, ` +
      `burstWhenBatchFull, poll ${POLLING_INTERVAL_SECONDS} s, LISTEN/NOTIFY; insert()`,
    workerSpec: {
      system: "pgboss",
      connectionString,
      localConcurrency: LOCAL_CONCURRENCY,
      batchSize: BATCH_SIZE,
      pollingIntervalSeconds: POLLING_INTERVAL_SECONDS,
    },
    workerProcesses: config.workerProcesses,
    async enqueueBatch(queue, payloads) {
      await boss.insert(
        queue,
        payloads.map((data) => ({ data })),
      );
    },
    async enqueueOne(queue, payload) {
      await boss.send(queue, payload);
    },
    async unfinished(queue) {
      // pg-boss's job states are an enum in lifecycle order: created, retry, active, completed, ...
      const { rows } = await db.query<{ n: string }>("select count(*) as n from pgboss.job where name = $1 and state < 'completed'", [queue]);
      return Number(rows[0]!.n);
    },
    problems: () => problems,
    async close() {
      await db.end();
      await boss.stop({ graceful: false });
    },
  };
};

/**
 * Worker-process half: `localConcurrency` batch loops on each queue that gets jobs in bulk
 * (drain, mixed load), one loop fetching one job at a time on the latency queue.
 */
export async function startPgBossWorker(
  spec: Extract<WorkerSpec, { system: "pgboss" }>,
  queues: BenchQueues,
  onJob: OnJob,
): Promise<WorkerHandle> {
  const boss = new PgBoss({
    connectionString: spec.connectionString,
    // Each fetch loop holds at most one connection at a time, plus completion and the listener.
    max: 2 * spec.localConcurrency + 3,
    supervise: false,
    schedule: false,
    migrate: false,
    useListenNotify: true,
  });
  boss.on("error", (error: Error) => process.stderr.write(`pg-boss worker: ${error.message}\n`));
  await boss.start();
  const bulk = { batchSize: spec.batchSize, localConcurrency: spec.localConcurrency, burstWhenBatchFull: true };
  const options: PerPhase<typeof bulk> = { drain: bulk, latency: { batchSize: 1, localConcurrency: 1, burstWhenBatchFull: false }, mixed: bulk };
  for (const phase of PHASES) {
    const handler = (jobs: Job<JobPayload>[]) => {
      for (const job of jobs) onJob(phase, job.data);
      return Promise.resolve();
    };
    await boss.work(queues[phase], { ...options[phase], pollingIntervalSeconds: spec.pollingIntervalSeconds }, handler);
  }
  return { stop: () => boss.stop({ graceful: true, timeout: 10_000 }) };
}
