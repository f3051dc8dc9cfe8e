import PgBoss from "pg-boss";
import { type BenchQueues, type JobPayload, type OnJob, PHASES, type PerPhase, type WorkerHandle, type WorkerSpec } from "../protocol.js";
import type { SystemFactory } from "./system.js";

/**
 * pg-boss 10.1.6. Workers poll (no LISTEN/NOTIFY across processes): each `work()` fetches up to
 * batchSize jobs, runs the handler on the whole batch, completes them in one statement, then
 * sleeps out the rest of its polling interval (0.5 s at least). Its defaults (batchSize 1,
 * poll every 2 s) would drain 0.5 jobs/s per worker, so only a tuned setup is measured: several
 * work() loops per process with large batches and the shortest polling interval allowed.
 */
/** work() loops per process on each queue that gets jobs in bulk (drain, mixed load). */
const WORKERS_PER_PROCESS = 4;
const BATCH_SIZE = 250;
const POLLING_INTERVAL_SECONDS = 0.5;

export const createPgBoss: SystemFactory = async ({ postgres, config, queues }) => {
  const connectionString = await postgres.createDatabase("bench_pgboss");
  const problems: string[] = [];
  const boss = new PgBoss({ connectionString, max: 4, schedule: false });
  boss.on("error", (error: Error) => problems.push(`pg-boss: ${error.message}`));
  await boss.start();
  for (const phase of PHASES) await boss.createQueue(queues[phase]);
  return {
    key: "pgboss-tuned",
    description: `${config.workerProcesses} worker processes x ${WORKERS_PER_PROCESS} work() loops per queue, batchSize ${BATCH_SIZE}, poll ${POLLING_INTERVAL_SECONDS} s`,
    workerSpec: {
      system: "pgboss",
      connectionString,
      workersPerProcess: WORKERS_PER_PROCESS,
      batchSize: BATCH_SIZE,
      pollingIntervalSeconds: POLLING_INTERVAL_SECONDS,
    },
    async enqueueBatch(queue, payloads) {
      await boss.insert(payloads.map((data) => ({ name: queue, data })));
    },
    async enqueueOne(queue, payload) {
      await boss.send(queue, payload);
    },
    unfinished: (queue) => boss.getQueueSize(queue, { before: "completed" }),
    problems: () => problems,
    close: () => boss.stop({ graceful: false, wait: true }),
  };
};

/**
 * Worker-process half: `workersPerProcess` batch loops on each queue that gets jobs in bulk
 * (drain, mixed load), one on the latency queue (one job at a time).
 */
export async function startPgBossWorker(
  spec: Extract<WorkerSpec, { system: "pgboss" }>,
  queues: BenchQueues,
  onJob: OnJob,
): Promise<WorkerHandle> {
  const boss = new PgBoss({
    connectionString: spec.connectionString,
    max: 2 * spec.workersPerProcess + 2,
    supervise: false,
    schedule: false,
    migrate: false,
  });
  boss.on("error", (error: Error) => process.stderr.write(`pg-boss worker: ${error.message}\n`));
  await boss.start();
  const options = { batchSize: spec.batchSize, pollingIntervalSeconds: spec.pollingIntervalSeconds };
  const loops: PerPhase<number> = { drain: spec.workersPerProcess, latency: 1, mixed: spec.workersPerProcess };
  for (const phase of PHASES) {
    const handler = async (jobs: PgBoss.Job<JobPayload>[]) => {
      for (const job of jobs) onJob(phase, job.data);
    };
    for (let i = 0; i < loops[phase]; i++) await boss.work(queues[phase], options, handler);
  }
  return { stop: () => boss.stop({ graceful: true, wait: true, timeout: 10_000 }) };
}
