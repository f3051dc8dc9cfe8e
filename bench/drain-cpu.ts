/**
 * `npx tsx bench/drain-cpu.ts`: where a drained job's CPU goes. For Baton and graphile-worker
 * tuned, each on a fresh database: enqueue `BENCH_CPU_JOBS` (40,000) jobs, start the workers,
 * and read the CPU time (user + system, from /proc) that the broker, the worker processes and
 * PostgreSQL's processes spent between "go" and the last handler, ÷ jobs. On a shared machine
 * this says more than the drain rate, which it explains: on 2 cores the rate is close to
 * 2 s ÷ the total. Linux only (/proc).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { killChildren } from "./children.js";
import { loadBenchConfig } from "./config.js";
import { startBenchPostgres } from "./postgres.js";
import type { BenchQueues } from "./protocol.js";
import { createBaton } from "./systems/baton.js";
import { graphileFactory } from "./systems/graphile.js";
import type { SystemFactory } from "./systems/system.js";
import { WorkerPool } from "./worker-pool.js";

const JOBS = Number(process.env.BENCH_CPU_JOBS ?? 40_000);
const TICKS_PER_SECOND = 100;
const queues: BenchQueues = { drain: "cpu_drain", latency: "cpu_latency", mixed: "cpu_mixed" };
const systems: [string, SystemFactory][] = [
  ["baton", createBaton],
  ["graphile-tuned", graphileFactory("tuned")],
];

/** CPU seconds the processes have used so far. */
function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // The process ended; its time is no longer readable.
    }
  }
  return ticks / TICKS_PER_SECOND;
}

/** Pids of the processes whose command line matches `pattern` (pgrep -f), and of their children with -P. */
function pids(args: string[]): number[] {
  try {
    return execFileSync("pgrep", args, { encoding: "utf8" }).split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

const config = loadBenchConfig([], process.env);
const postgres = await startBenchPostgres();
try {
  const port = new URL(postgres.url("postgres")).port;
  const root = process.cwd();
  for (const [key, create] of systems) {
    const system = await create({ postgres, config, queues });
    try {
      for (let first = 0; first < JOBS; first += config.batchSize) {
        await system.enqueueBatch(queues.drain, Array.from({ length: Math.min(config.batchSize, JOBS - first) }, (_, k) => ({ i: first + k })));
      }
      const pool = await WorkerPool.start(system.workerSpec, queues, system.workerProcesses);
      try {
        const postmaster = pids(["-f", `bin/postgres -D .* -p ${port} `]);
        const parts = {
          broker: () => pids(["-f", `${root}/dist/src/cli/main.js serve`]),
          workers: () => pids(["-f", `${root}/bench/worker-process.ts`]),
          postgres: () => [...postmaster, ...pids(["-P", postmaster.join(",")])],
        };
        const before = Object.fromEntries(Object.entries(parts).map(([name, list]) => [name, cpuSeconds(list())]));
        const started = performance.now();
        pool.go();
        await pool.until(() => pool.handled("drain") >= JOBS, config.drainTimeoutMs, `${key} to drain`);
        const seconds = (performance.now() - started) / 1000;
        const perJob = Object.entries(parts).map(([name, list]) => {
          const microseconds = ((cpuSeconds(list()) - before[name]!) * 1e6) / JOBS;
          return `${name} ${Math.round(microseconds)} µs`;
        });
        process.stdout.write(`${key}: ${JOBS} jobs in ${seconds.toFixed(2)} s = ${Math.round(JOBS / seconds)} jobs/s; CPU per job: ${perJob.join(", ")}\n`);
      } finally {
        await pool.stop();
        await pool.kill();
      }
    } finally {
      await system.close();
      await postgres.reset();
    }
  }
} finally {
  killChildren();
  await postgres.stop();
}
