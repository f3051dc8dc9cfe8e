import type { ChildProcess } from "node:child_process";
import pg from "pg";
import { createClient, runWorker } from "../../clients/ts/src/index.js";
import { startBroker } from "../broker.js";
import { terminate } from "../children.js";
import { measureScale } from "../extras.js";
import { seedBacklog, seedFinishedJobs } from "../seed.js";
import { freePort } from "../../src/util/free-port.js";
import { type BenchQueues, type JobPayload, type OnJob, PHASES, type WorkerHandle, type WorkerSpec, phaseOf } from "../protocol.js";
import { installedVersion } from "../versions.js";
import type { SystemFactory } from "./system.js";

/**
 * Baton as deployed: the compiled `baton serve` (bench/broker.ts) in its own process on its own
 * database, producers calling EnqueueJob/EnqueueJobs over gRPC (clients/ts createClient),
 * workers in other processes holding one Subscribe stream each (clients/ts runWorker).
 */
export const createBaton: SystemFactory = async ({ postgres, config }) => {
  const databaseUrl = await postgres.createDatabase("bench_baton");
  const port = await freePort();
  const broker = startBroker({
    env: {
      BATON_DATABASE_URL: databaseUrl,
      BATON_PORT: String(port),
      BATON_HOST: "127.0.0.1",
      BATON_DRAIN_SECONDS: "5",
      BATON_LOG_LEVEL: "info",
      // graphile-worker and pg-boss have no API authentication to pay for; with a database URL
      // Baton turns its bearer tokens on by default.
      BATON_AUTH: "off",
      // The 1,000-stream check opens one connection per stream (as 1,000 worker processes
      // would), plus the bench's own; the default limit is exactly 1,000 connections.
      BATON_MAX_CONNECTIONS: "1100",
    },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
    // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the broker during the bench.
    nodeArgs: (process.env.BENCH_BROKER_NODE_ARGS ?? "").split(" ").filter(Boolean),
  });
  const log = collectLog(broker);
  try {
    await waitHealthy(`http://127.0.0.1:${port}/healthz`, broker, 60_000);
  } catch (error) {
    await terminate(broker, "SIGKILL", 0);
    throw new Error(`${(error as Error).message}\nbroker log:\n${log.tail.join("\n")}`, { cause: error });
  }
  const baseUrl = `http://127.0.0.1:${port}`;
  const client = createClient({ baseUrl });
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // One count per unfinished state, each served by that state's partial index: the scale phase
  // polls this with two million rows in the table, where a scan (0.5-1 s on 2 cores) would both
  // delay the end of the drain it times and compete with it for CPU.
  const unfinished = async (queue: string) => {
    const { rows } = await db.query<{ n: string }>(
      `select (select count(*) from baton.jobs where queue = $1 and state = 'available')
            + (select count(*) from baton.jobs where queue = $1 and state = 'leased')
            + (select count(*) from baton.jobs where queue = $1 and state = 'blocked') as n`,
      [queue],
    );
    return Number(rows[0]!.n);
  };
  return {
    key: "baton",
    version: installedVersion("baton"),
    description: `broker process; ${config.workerProcesses} worker processes x concurrency ${config.batonConcurrency} (one gRPC stream each)`,
    workerSpec: { system: "baton", baseUrl, concurrency: config.batonConcurrency },
    workerProcesses: config.workerProcesses,
    async enqueueBatch(queue, payloads) {
      await client.enqueueManyIds(payloads.map((payload) => ({ queue, payload })));
    },
    async enqueueOne(queue, payload) {
      await client.enqueue(queue, payload);
    },
    unfinished: (queue) => unfinished(queue),
    problems: () => log.problems,
    async scale() {
      return measureScale({
        baseUrl,
        brokerPid: broker.pid!,
        async enqueue(queue, count) {
          for (let first = 0; first < count; first += config.batchSize) {
            const n = Math.min(config.batchSize, count - first);
            await client.enqueueManyIds(Array.from({ length: n }, (_, k) => ({ queue, payload: { i: first + k } })));
          }
        },
        unfinished: (queue) => unfinished(queue),
        inFlight: config.inFlight,
        streams: config.streams,
        processes: config.streamProcesses,
        streamJobs: config.streamJobs,
      });
    },
    seed: {
      finished: (queue, n) => seedFinishedJobs(databaseUrl, queue, n),
      backlog: (queue, n) => seedBacklog(databaseUrl, queue, n),
    },
    async close() {
      client.close();
      await db.end();
      await terminate(broker, "SIGTERM", 15_000);
    },
  };
};

/** Worker-process half: one runWorker on every bench queue. */
export function startBatonWorker(
  spec: Extract<WorkerSpec, { system: "baton" }>,
  queues: BenchQueues,
  onJob: OnJob,
): Promise<WorkerHandle> {
  const decoder = new TextDecoder();
  const worker = runWorker({
    baseUrl: spec.baseUrl,
    queues: PHASES.map((phase) => queues[phase]),
    concurrency: spec.concurrency,
    handler: (job) => {
      onJob(phaseOf(queues, job.queue), JSON.parse(decoder.decode(job.payload)) as JobPayload);
      return undefined;
    },
    onError: (error) => process.stderr.write(`baton worker: ${error instanceof Error ? error.message : String(error)}\n`),
  });
  return Promise.resolve({ stop: () => worker.stop() });
}

/** Warnings the bench's own settings cause (BATON_AUTH=off): not problems of the run. */
const EXPECTED_WARNINGS = [/AUTHENTICATION IS OFF/];

/** Keeps the broker's last log lines and every warn/error line (JSON logs on stderr). */
function collectLog(broker: ChildProcess) {
  const tail: string[] = [];
  const problems: string[] = [];
  let partial = "";
  broker.stderr?.setEncoding("utf8");
  broker.stderr?.on("data", (chunk: string) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      try {
        const entry = JSON.parse(line) as { level?: string };
        const expected = EXPECTED_WARNINGS.some((pattern) => pattern.test(line));
        if ((entry.level === "warn" || entry.level === "error") && !expected) problems.push(line);
      } catch {
        if (line.trim() !== "") problems.push(line);
      }
    }
  });
  return { tail, problems };
}

async function waitHealthy(url: string, broker: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (broker.exitCode !== null || broker.signalCode !== null) throw new Error(`broker exited during startup (code ${broker.exitCode})`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`broker not healthy at ${url} within ${timeoutMs} ms`);
}
