/**
 * Measurements beside the per-system phases of bench/measure.ts:
 * - the raw SQL floor: the minimal batched lifecycle of a PostgreSQL queue on one connection,
 *   the physical reference every system is compared with;
 * - Baton's broker memory with 10k jobs in flight, and one broker serving 1,000 worker streams.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import pg from "pg";
import { forkTs, terminate } from "./children.js";
import type { BenchPostgres } from "./postgres.js";
import type { FromStreams, ToStreams } from "./stream-process.js";

export interface FloorResult {
  postgresVersion: string;
  jobs: number;
  batchSize: number;
  /** Batched insert via unnest, one statement and commit per batch. */
  enqueueJobsPerSecond: number;
  /** Claim of `batchSize` with SKIP LOCKED, then one delete of the batch; two commits per batch. */
  drainJobsPerSecond: number;
}

/**
 * The minimal queue, in one connection: a table with the columns a queue needs and a partial
 * index for claim order; batches inserted with unnest; claimed with FOR UPDATE SKIP LOCKED
 * (setting a lease), then deleted (finished), each step its own transaction, as a broker would.
 */
export async function measureFloor(postgres: BenchPostgres, jobs: number, batchSize: number): Promise<FloorResult> {
  const client = new pg.Client({ connectionString: await postgres.createDatabase("bench_floor") });
  await client.connect();
  try {
    await client.query(`
      create table jobs (
        id bigserial primary key,
        queue text not null,
        payload jsonb not null,
        priority int not null default 0,
        run_at timestamptz not null default now(),
        locked_until timestamptz
      );
      create index jobs_claim on jobs (queue, priority, run_at, id) where locked_until is null`);
    const insert = {
      name: "floor_insert",
      text: "insert into jobs (queue, payload) select 'floor', p from unnest($1::jsonb[]) as p",
    };
    const claim = {
      name: "floor_claim",
      text: `with due as (
               select id from jobs where queue = 'floor' and locked_until is null and run_at <= now()
               order by priority, run_at, id limit $1 for update skip locked)
             update jobs j set locked_until = now() + interval '30 seconds' from due where j.id = due.id returning j.id`,
    };
    const finish = { name: "floor_delete", text: "delete from jobs where id = any($1::bigint[])" };
    const payloads = (first: number) => Array.from({ length: Math.min(batchSize, jobs - first) }, (_, k) => JSON.stringify({ i: first + k }));
    // Warm-up batch (plans, caches), drained and discarded.
    await client.query({ ...insert, values: [payloads(0)] });
    const warm = await client.query<{ id: string }>({ ...claim, values: [batchSize] });
    await client.query({ ...finish, values: [warm.rows.map((r) => r.id)] });

    let started = performance.now();
    for (let first = 0; first < jobs; first += batchSize) await client.query({ ...insert, values: [payloads(first)] });
    const enqueueSeconds = (performance.now() - started) / 1000;
    started = performance.now();
    let done = 0;
    for (;;) {
      const { rows } = await client.query<{ id: string }>({ ...claim, values: [batchSize] });
      if (rows.length === 0) break;
      await client.query({ ...finish, values: [rows.map((r) => r.id)] });
      done += rows.length;
    }
    const drainSeconds = (performance.now() - started) / 1000;
    if (done !== jobs) throw new Error(`sql floor: drained ${done} of ${jobs} jobs`);
    return { postgresVersion: postgres.version, jobs, batchSize, enqueueJobsPerSecond: jobs / enqueueSeconds, drainJobsPerSecond: jobs / drainSeconds };
  } finally {
    await client.end();
  }
}

export interface ScaleResult {
  /** Broker VmRSS with no worker stream open, after the per-system phases. */
  idleRssMb: number;
  inFlight: { jobs: number; held: number; rssMb: number; seconds: number };
  streams: {
    streams: number;
    processes: number;
    jobs: number;
    handled: number;
    workersWithJobs: number;
    seconds: number;
    jobsPerSecond: number;
    errors: number;
    /** The last error a stream reported, when one did: what a failed check needs explained. */
    lastError?: string;
    rssMb: number;
    ok: boolean;
  };
}

/** VmRSS of a process, in MB (Linux). */
export function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

interface StreamsChild {
  child: ChildProcess;
  latest: FromStreams;
  stopped: Promise<void>;
}

function startStreams(message: Extract<ToStreams, { type: "start" }>): StreamsChild {
  const child = forkTs("./stream-process.ts");
  let resolveStopped!: () => void;
  const handle: StreamsChild = {
    child,
    latest: { type: "progress", handled: 0, workersWithJobs: 0, errors: 0 },
    stopped: new Promise<void>((resolve) => (resolveStopped = resolve)),
  };
  child.on("message", (m: FromStreams) => {
    handle.latest = m;
    if (m.type === "stopped") resolveStopped();
  });
  child.once("exit", () => resolveStopped());
  child.send(message);
  return handle;
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * 1. `inFlight` jobs (10k) enqueued, then taken by 2 streams whose handlers never return: the
 *    broker holds every lease; its RSS is read then. The holders are killed (their leases are
 *    released).
 * 2. `streams` (1,000) worker streams from `processes` processes, each max_in_flight 1, drain
 *    `streamJobs` jobs; ok when every job ran, every stream got one and no stream errored.
 */
export async function measureScale(options: {
  baseUrl: string;
  brokerPid: number;
  enqueue(queue: string, count: number): Promise<void>;
  unfinished(queue: string): Promise<number>;
  inFlight: number;
  streams: number;
  processes: number;
  streamJobs: number;
}): Promise<ScaleResult> {
  const idleRssMb = rssMb(options.brokerPid);

  await options.enqueue("bench_hold", options.inFlight);
  let started = performance.now();
  const holders = [0, 1].map(() =>
    startStreams({ type: "start", baseUrl: options.baseUrl, queue: "bench_hold", workers: 1, concurrency: Math.ceil(options.inFlight / 2), hold: true }),
  );
  const held = () => holders.reduce((sum, h) => sum + h.latest.handled, 0);
  let inFlight: ScaleResult["inFlight"];
  try {
    await until(() => held() >= options.inFlight, 120_000, `${options.inFlight} jobs in flight`);
    const seconds = (performance.now() - started) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 500));
    inFlight = { jobs: options.inFlight, held: held(), rssMb: rssMb(options.brokerPid), seconds };
  } finally {
    await Promise.all(holders.map((h) => terminate(h.child, "SIGKILL", 0)));
  }

  await options.enqueue("bench_streams", options.streamJobs);
  const perProcess = Math.ceil(options.streams / options.processes);
  started = performance.now();
  const children = Array.from({ length: options.processes }, (_, p) =>
    startStreams({
      type: "start",
      baseUrl: options.baseUrl,
      queue: "bench_streams",
      workers: Math.min(perProcess, options.streams - p * perProcess),
      concurrency: 1,
      hold: false,
    }),
  );
  const sum = (pick: (m: FromStreams) => number) => children.reduce((s, c) => s + pick(c.latest), 0);
  let streamRss = 0;
  try {
    await until(
      () => {
        streamRss = Math.max(streamRss, rssMb(options.brokerPid));
        return sum((m) => m.handled) >= options.streamJobs;
      },
      180_000,
      `${options.streams} streams to drain ${options.streamJobs} jobs`,
    );
    while ((await options.unfinished("bench_streams")) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    const seconds = (performance.now() - started) / 1000;
    for (const c of children) c.child.send({ type: "stop" } satisfies ToStreams);
    await Promise.race([Promise.all(children.map((c) => c.stopped)), new Promise((resolve) => setTimeout(resolve, 20_000))]);
    const handled = sum((m) => m.handled);
    const workersWithJobs = sum((m) => m.workersWithJobs);
    const errors = sum((m) => m.errors);
    const lastError = children.map((c) => c.latest.lastError).find((e) => e !== undefined);
    return {
      idleRssMb,
      inFlight,
      streams: {
        streams: options.streams,
        processes: options.processes,
        jobs: options.streamJobs,
        handled,
        workersWithJobs,
        seconds,
        jobsPerSecond: options.streamJobs / seconds,
        errors,
        ...(lastError !== undefined && { lastError }),
        rssMb: streamRss,
        ok: handled >= options.streamJobs && workersWithJobs === options.streams && errors === 0,
      },
    };
  } finally {
    await Promise.all(children.map((c) => terminate(c.child, "SIGKILL", 0)));
  }
}
