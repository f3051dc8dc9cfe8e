/**
 * `npm run bench` / `npm run bench:smoke`: Baton, graphile-worker and pg-boss side by side on
 * one embedded PostgreSQL, each system in a fresh database. See bench/README.md.
 */
import os from "node:os";
import { fileURLToPath } from "node:url";
import { ensureBrokerBuilt } from "./broker.js";
import { killChildren } from "./children.js";
import { type BenchConfig, SYSTEM_KEYS, loadBenchConfig } from "./config.js";
import { renderChart } from "./chart.js";
import { type FloorResult, measureFloor } from "./extras.js";
import { type SystemResult, benchSystem } from "./measure.js";
import { type BenchPostgres, startBenchPostgres } from "./postgres.js";
import { hasSeed, measureStoreScale } from "./scale.js";
import type { BenchQueues } from "./protocol.js";
import { REFERENCE, type Target, describeMixed, describeStoreScale, doneMeans, formatTable, rows, targets, writeChart, writeJson } from "./report.js";
import { createBaton } from "./systems/baton.js";
import { graphileFactory } from "./systems/graphile.js";
import { createPgBoss } from "./systems/pgboss.js";
import type { SystemFactory, SystemUnderTest } from "./systems/system.js";

const RESULTS_FILE = fileURLToPath(new URL("./results/latest.json", import.meta.url));
const CHART_FILE = fileURLToPath(new URL("./results/latest.svg", import.meta.url));
const queues: BenchQueues = { drain: "bench_drain", latency: "bench_latency", mixed: "bench_mixed" };

const factories: Record<Exclude<(typeof SYSTEM_KEYS)[number], "sql-floor">, { create: SystemFactory; slow?: boolean }> = {
  baton: { create: createBaton },
  "graphile-tuned": { create: graphileFactory("tuned") },
  "graphile-default": { create: graphileFactory("default"), slow: true },
  "pgboss-tuned": { create: createPgBoss },
};

const say = (text: string) => process.stderr.write(`${text}\n`);

async function main(): Promise<number> {
  const config = loadBenchConfig(process.argv.slice(2), process.env);
  const started = new Date();
  const loadBefore = os.loadavg()[0]!;
  if (loadBefore > os.cpus().length) {
    say(`warning: load average ${loadBefore.toFixed(1)} on ${os.cpus().length} CPUs: other work will distort the numbers`);
  }
  say(`bench${config.smoke ? " (smoke)" : ""}: ${config.jobs} jobs per system, ${config.latencySamples} latency samples, ${os.cpus().length} CPUs`);
  // Before anything is started or timed: the bench runs the compiled broker.
  if (selected(config, "baton")) ensureBrokerBuilt(say);
  const running: { postgres?: BenchPostgres } = {};
  onInterrupt(async () => {
    killChildren();
    await running.postgres?.stop();
  });
  const postgres = (running.postgres = await startBenchPostgres());
  const results: SystemResult[] = [];
  const failures: { key: string; error: string }[] = [];
  let commitRate: number;
  let floor: FloorResult | undefined;
  try {
    commitRate = await postgres.commitRate(config.smoke ? 0.5 : 2);
    say(`PostgreSQL ${postgres.version} started; ${Math.round(commitRate)} single-row commits/s on one connection`);
    for (const key of SYSTEM_KEYS) {
      if (!selected(config, key)) continue;
      if (key === "sql-floor") {
        try {
          say("sql-floor: measuring the raw batched lifecycle on one connection");
          floor = await measureFloor(postgres, config.jobs, config.batchSize);
          say(`sql-floor: enqueue ${Math.round(floor.enqueueJobsPerSecond)} jobs/s, drain ${Math.round(floor.drainJobsPerSecond)} jobs/s`);
        } catch (error) {
          say(`sql-floor: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
          failures.push({ key, error: error instanceof Error ? error.message : String(error) });
        }
        await postgres.reset();
        continue;
      }
      const { create, slow } = factories[key];
      const jobs = slow ? Math.min(config.jobs, config.slowJobs) : config.jobs;
      try {
        results.push(await runOne(key, create, { postgres, config, queues }, jobs));
      } catch (error) {
        say(`${key}: FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        failures.push({ key, error: error instanceof Error ? error.message : String(error) });
      }
      await postgres.reset();
    }
  } finally {
    killChildren();
    await postgres.stop();
  }

  const table = rows(results, floor);
  const goals = targets(results, floor);
  const done = doneMeans(results);
  process.stdout.write(`\n${formatTable(table)}\n\n`);
  const printGoal = (goal: Target) => process.stdout.write(`${goal.met ? "met   " : "MISSED"}  ${goal.target}: ${goal.actual}\n`);
  if (goals.length > 0) process.stdout.write("issue 14 targets:\n");
  goals.forEach(printGoal);
  if (done.length > 0) process.stdout.write("issue 14 done means (the floor):\n");
  done.forEach(printGoal);
  process.stdout.write("\n");
  for (const result of results) {
    process.stdout.write(`${result.key}: ${result.description}\n  ${describeMixed(result)}\n`);
    const scale = describeStoreScale(result);
    if (scale) process.stdout.write(`  ${scale}\n`);
    const duplicates = result.drain.duplicates + result.mixed.duplicates;
    if (duplicates > 0) process.stdout.write(`  ${duplicates} jobs ran more than once\n`);
    for (const problem of result.problems.slice(0, 10)) process.stdout.write(`  logged: ${problem}\n`);
  }
  writeJson(RESULTS_FILE, {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    smoke: config.smoke,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      node: process.version,
      postgres: postgres.version,
      singleRowCommitsPerSecond: Math.round(commitRate),
      loadAverageBefore: loadBefore,
      loadAverageAfter: os.loadavg()[0],
    },
    config,
    reference: REFERENCE,
    floor,
    results,
    table,
    targets: goals,
    doneMeans: done,
    failures,
  });
  const versions = results.map((r) => `${r.key} ${r.version}`).join(", ");
  const subtitle = `${config.smoke ? "smoke, " : ""}${config.jobs} jobs, mixed load ${config.mixedRate} jobs/s for ${config.mixedSeconds} s, ${os.cpus().length} CPUs, ${started.toISOString().slice(0, 16)}Z; ${versions}`;
  writeChart(CHART_FILE, renderChart(table, subtitle));
  process.stdout.write(`\nresults written to ${RESULTS_FILE} and ${CHART_FILE}\n`);
  if (failures.length > 0) process.stdout.write(`FAILED: ${failures.map((f) => f.key).join(", ")}\n`);
  return failures.length > 0 ? 1 : 0;
}

function selected(config: BenchConfig, key: string): boolean {
  return config.only.length === 0 || config.only.includes(key);
}

async function runOne(
  key: string,
  create: SystemFactory,
  context: { postgres: BenchPostgres; config: BenchConfig; queues: BenchQueues },
  jobs: number,
): Promise<SystemResult> {
  say(`${key}: setting up`);
  const system: SystemUnderTest = await create(context);
  try {
    const result = await benchSystem(system, context.config, context.queues, jobs);
    say(
      `${key}: enqueue ${Math.round(result.enqueue.jobsPerSecond)} jobs/s, drain ${Math.round(result.drain.jobsPerSecond)} jobs/s ` +
        `(${jobs} in ${result.drain.seconds.toFixed(2)} s), latency p50 ${result.latency.p50Ms} ms p99 ${result.latency.p99Ms} ms`,
    );
    say(`${key}: ${describeMixed(result)}`);
    if (result.scale) {
      const { idleRssMb, inFlight, streams } = result.scale;
      say(
        `${key}: broker RSS ${idleRssMb.toFixed(0)} MB idle, ${inFlight.rssMb.toFixed(0)} MB with ${inFlight.held} jobs in flight; ` +
          `${streams.streams} streams drained ${streams.handled}/${streams.jobs} jobs at ${Math.round(streams.jobsPerSecond)} jobs/s, ` +
          `${streams.workersWithJobs} streams got jobs, ${streams.errors} errors`,
      );
    }
    if (hasSeed(system)) {
      say(`${key}: scale phase: seeding ${context.config.scaleJobs} finished jobs, then ${context.config.scaleJobs} waiting jobs`);
      result.storeScale = await measureStoreScale(system, context.config, result);
      say(`${key}: ${describeStoreScale(result)}`);
    }
    return result;
  } catch (error) {
    const logged = system.problems().slice(-10);
    if (logged.length > 0 && error instanceof Error) error.message += `\n${key} logged:\n${logged.join("\n")}`;
    throw error;
  } finally {
    await system.close();
  }
}

/** Ctrl-C or SIGTERM: stop the children and PostgreSQL before leaving. */
function onInterrupt(cleanup: () => Promise<void>): void {
  let interrupted = false;
  const handler = (signal: NodeJS.Signals) => {
    if (interrupted) return;
    interrupted = true;
    say(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  process.on("exit", killChildren);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    say(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
