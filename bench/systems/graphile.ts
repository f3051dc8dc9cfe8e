import { Logger, makeWorkerUtils, run, runMigrations } from "graphile-worker";
import pg from "pg";
import { type BenchQueues, type JobPayload, type OnJob, PHASES, type WorkerHandle, type WorkerSpec } from "../protocol.js";
import type { SystemFactory } from "./system.js";

/**
 * graphile-worker 0.16.6 (the last release for Node 20). It has no broker: every worker process
 * runs `run()` and talks to PostgreSQL itself, one get_job and one complete_job call per job
 * (0.16 has neither the local queue nor batched completion of 0.17+). Jobs are added with the
 * SQL function graphile_worker.add_jobs (0.16's batch API; WorkerUtils.addJobs came later), and
 * single jobs with WorkerUtils.addJob. Bench "queues" are task identifiers: graphile's
 * queue_name would make jobs run one at a time.
 *
 * - default: the library's defaults (concurrency 1, pool 10, poll 2 s) in each worker process.
 * - tuned: high concurrency with a pool as large (graphile warns when the pool is smaller).
 */
export function graphileFactory(variant: "default" | "tuned"): SystemFactory {
  return async ({ postgres, config }) => {
    const connectionString = await postgres.createDatabase(`bench_graphile_${variant}`);
    const logger = quietLogger("graphile-worker");
    await runMigrations({ connectionString, logger });
    const utils = await makeWorkerUtils({ connectionString, logger });
    const db = new pg.Pool({ connectionString, max: 2 });
    const tuned = config.graphileConcurrency;
    const spec: WorkerSpec =
      variant === "default"
        ? { system: "graphile", connectionString, concurrency: 1, maxPoolSize: 10 }
        : { system: "graphile", connectionString, concurrency: tuned, maxPoolSize: tuned };
    return {
      key: `graphile-${variant}`,
      description:
        variant === "default"
          ? `library defaults (concurrency 1, pool 10); ${config.workerProcesses} worker processes`
          : `${config.workerProcesses} worker processes x concurrency ${tuned}, pool ${tuned}`,
      workerSpec: spec,
      async enqueueBatch(task, payloads) {
        const specs = payloads.map((payload) => ({ identifier: task, payload }));
        await db.query(
          "select count(*) from graphile_worker.add_jobs(array(select json_populate_recordset(null::graphile_worker.job_spec, $1::json)))",
          [JSON.stringify(specs)],
        );
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
  const taskList = Object.fromEntries(PHASES.map((phase) => [queues[phase], async (payload: unknown) => onJob(phase, payload as JobPayload)]));
  const runner = await run({
    connectionString: spec.connectionString,
    concurrency: spec.concurrency,
    maxPoolSize: spec.maxPoolSize,
    ...(spec.pollInterval !== undefined && { pollInterval: spec.pollInterval }),
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
