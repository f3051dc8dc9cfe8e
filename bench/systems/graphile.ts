import { Logger, makeWorkerUtils, run, runMigrations } from "graphile-worker";
import pg from "pg";
import { type BenchQueues, type GraphileWorkerOptions, type JobPayload, type OnJob, PHASES, type WorkerHandle, type WorkerSpec } from "../protocol.js";
import { installedVersion } from "../versions.js";
import type { SystemFactory } from "./system.js";

/**
 * graphile-worker 0.17 (0.18 needs Node 22.18; the bench runs on Node 20). It has no broker:
 * every worker process runs `run()` and talks to PostgreSQL itself. Batches are added with
 * `WorkerUtils.addJobs` (one `add_jobs` call), single jobs with `WorkerUtils.addJob`. Bench
 * "queues" are task identifiers: graphile's queue_name would make jobs run one at a time.
 *
 * - tuned: the library's performance options (worker.graphile.org/docs/performance): a local
 *   queue of 500 (one get_jobs call locks up to 500 jobs for the process) and batched completion
 *   (`completeJobBatchDelay: 0`: completions of one event-loop turn share one statement), at
 *   concurrency 20 with a pool as large, in `graphileProcesses` processes (2 drained faster than 1 on 2 cores, bench/README.md).
 * - default: the library's defaults (concurrency 1, pool 10, poll 2 s, no local queue, one
 *   complete_job per job) in each of `workerProcesses` processes.
 */
export const TUNED_OPTIONS: GraphileWorkerOptions = { localQueue: { size: 500 }, completeJobBatchDelay: 0 };

export function graphileFactory(variant: "default" | "tuned"): SystemFactory {
  return async ({ postgres, config }) => {
    const connectionString = await postgres.createDatabase(`bench_graphile_${variant}`);
    const logger = quietLogger("graphile-worker");
    await runMigrations({ connectionString, logger });
    const utils = await makeWorkerUtils({ connectionString, logger });
    const db = new pg.Pool({ connectionString, max: 2 });
    const tuned = variant === "tuned";
    const concurrency = tuned ? config.graphileConcurrency : 1;
    const processes = tuned ? config.graphileProcesses : config.workerProcesses;
    // Tuned: a pool as large as the concurrency, which graphile asks for (it warns otherwise).
    const spec: WorkerSpec = { system: "graphile", connectionString, concurrency, ...(tuned && { maxPoolSize: concurrency, workerOptions: TUNED_OPTIONS }) };
    return {
      key: `graphile-${variant}`,
      version: installedVersion("graphile-worker"),
      description: tuned
        ? `${processes} worker process(es) x concurrency ${concurrency}, pool ${concurrency}, localQueue.size ${TUNED_OPTIONS.localQueue!.size}, completeJobBatchDelay ${TUNED_OPTIONS.completeJobBatchDelay}; addJobs`
        : `library defaults (concurrency 1, pool 10, poll 2 s); ${processes} worker processes`,
      workerSpec: spec,
      workerProcesses: processes,
      async enqueueBatch(task, payloads) {
        await utils.addJobs(payloads.map((payload) => ({ identifier: task, payload })));
      },
      async enqueueOne(task, payload) {
        await utils.addJob(task, payload);
      },
      async unfinished(task) {
        // Completed jobs are deleted; what is left is waiting, running or failed.
        const { rows } = await db.query<{ n: string }>("select count(*) as n from graphile_worker.jobs where task_identifier = $1", [task]);
        return Number(rows[0]!.n);
      },
      problems: () => [],
      async close() {
        await utils.release();
        await db.end();
      },
    };
  };
}

/** Worker-process half: one graphile runner with a task per bench queue. */
export async function startGraphileWorker(
  spec: Extract<WorkerSpec, { system: "graphile" }>,
  queues: BenchQueues,
  onJob: OnJob,
): Promise<WorkerHandle> {
  const taskList = Object.fromEntries(PHASES.map((phase) => [queues[phase], (payload: unknown) => Promise.resolve(onJob(phase, payload as JobPayload))]));
  const runner = await run({
    connectionString: spec.connectionString,
    concurrency: spec.concurrency,
    ...(spec.maxPoolSize !== undefined && { maxPoolSize: spec.maxPoolSize }),
    ...(spec.workerOptions && { preset: { worker: spec.workerOptions } }),
    noHandleSignals: true,
    logger: quietLogger("graphile-worker"),
    taskList,
    parsedCronItems: [],
  });
  return { stop: () => runner.stop() };
}

/** Passes on warnings and errors only: graphile logs every worker start at info level. */
function quietLogger(name: string): Logger {
  return new Logger(() => (level, message) => {
    const text = String(level);
    if (text === "error" || text === "warning") process.stderr.write(`${name} ${text}: ${message}\n`);
  });
}
