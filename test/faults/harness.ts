/**
 * What every fault scenario needs: broker processes, fault workers, a producer that records
 * its enqueues in the history, and the final check.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { expect } from "vitest";
import { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { type BrokerOverrides, type TestBroker, startTestBroker } from "../helpers/broker.js";
import { sql } from "../helpers/database.js";
import { type ChildEnv, type TestProcess, killAll, spawnTs } from "../helpers/process.js";
import { type Rng, rng, timeoutMs } from "./config.js";
import {
  type CheckOptions,
  type CheckReport,
  type ExpectedState,
  History,
  assertValid,
  check,
  readFinalState,
  unfinished,
} from "./history.js";
import { recordReport } from "./summary.js";
import { type TcpProxy, startTcpProxy } from "./tcp-proxy.js";
import { freePort } from "../../src/util/free-port.js";
import { eventually } from "../helpers/wait.js";


export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `eventually`, with the fault suite's deadlines (scaled by timeoutMs) and arguments. */
export function waitUntil(condition: () => Promise<boolean> | boolean, what: string, limitMs = 30_000, intervalMs = 50): Promise<void> {
  return eventually(condition, { what, timeoutMs: timeoutMs(limitMs), intervalMs });
}


/**
 * Broker settings for fault tests, as `baton serve` reads them: short leases so that expiry
 * happens within a test, a fast reaper, quick retries, no API tokens.
 */
export const FAST_BROKER_ENV: ChildEnv = {
  // Authentication has its own tests; these are about delivery under faults.
  BATON_AUTH: "off",
  BATON_LEASE_SECONDS: "2",
  BATON_REAP_SECONDS: "0.25",
  BATON_POLL_SECONDS: "1",
  BATON_PING_SECONDS: "2",
  BATON_KEEPALIVE_SECONDS: "2",
  BATON_DRAIN_SECONDS: "1",
  BATON_RETRY_BASE_SECONDS: "0.05",
  BATON_RETRY_MAX_SECONDS: "0.5",
  BATON_LOG_LEVEL: "info",
};

/**
 * In-process broker settings for a test about silent peers: a 1 s lease that is renewed as long
 * as the broker believes the stream alive, and an app-level ping too slow to matter, so that it
 * is the HTTP/2 keepalive (every `keepaliveMs`, answered within `keepaliveMs`) that notices a
 * peer gone quiet, or nothing does when that is long.
 */
export function keepaliveBroker(keepaliveMs: number, broker: BrokerOverrides["broker"] = {}): BrokerOverrides {
  return {
    keepaliveIntervalMs: keepaliveMs,
    keepaliveTimeoutMs: keepaliveMs,
    broker: { leaseSeconds: 1, reapIntervalMs: 200, pingIntervalMs: 60_000, ...broker },
  };
}

export interface BrokerProcess {
  process: TestProcess;
  port: number;
  url: string;
  replica: string;
}

/** `baton serve` in its own process on a database of the test's choosing. */
async function startBrokerProcess(databaseUrl: string, options: { port?: number; env?: ChildEnv } = {}): Promise<BrokerProcess> {
  const port = options.port ?? (await freePort());
  const child = spawnTs("src/cli/main.ts", { ...FAST_BROKER_ENV, ...options.env, BATON_DATABASE_URL: databaseUrl, BATON_HOST: "127.0.0.1", BATON_PORT: String(port) }, [
    "serve",
  ]);
  const serving = await child.waitFor((e) => e.msg === "baton serving");
  return { process: child, port, url: `http://127.0.0.1:${port}`, replica: String(serving.replica) };
}

export function jobClient(url: string): Client<typeof JobService> {
  return createClient(JobService, createGrpcTransport({ baseUrl: url }));
}

export interface EnqueueOptions {
  maxAttempts?: number;
  /** Handler time of each job; else the worker draws one from the nonce. */
  workMs?: number;
  /** workMs applies to the first attempt only; reruns take the worker's usual time. */
  slowOnce?: boolean;
  poison?: boolean;
  /** The job's attempt timeout. */
  timeoutMs?: number;
  expect?: ExpectedState;
  /** Give up (and leave the enqueue indeterminate) after this long. */
  deadlineMs?: number;
  /** depends_on of each job, by position in the batch. */
  dependsOn?: string[][];
}

/**
 * Enqueues jobs with a fresh nonce each, through any of the brokers it knows, retrying until
 * one acknowledges. Every enqueue carries its nonce as dedup_key with a long dedup window, so
 * a retry of an enqueue that committed but whose reply was lost returns the same job.
 */
export class Producer {
  private readonly clients: Client<typeof JobService>[];
  private next = 0;
  private counter = 0;
  private readonly random: Rng;
  failures = 0;

  constructor(
    private readonly history: History,
    urls: string[],
    /** Round-robin over the brokers, not only on failure. */
    private readonly spread = false,
  ) {
    this.clients = urls.map(jobClient);
    this.random = rng(history.seed, `${history.scenario}/producer`);
  }

  async enqueue(queue: string, count: number, options: EnqueueOptions = {}): Promise<string[]> {
    const nonces = Array.from({ length: count }, () => `${this.history.scenario}-${this.counter++}-${this.random.hex()}`);
    for (const nonce of nonces) this.history.attempt(nonce, queue, options.expect ?? "succeeded");
    const request = {
      jobs: nonces.map((nonce, i) => ({
        queue,
        dependsOn: options.dependsOn?.[i],
        payload: new TextEncoder().encode(JSON.stringify({ nonce, workMs: options.workMs, slowOnce: options.slowOnce, poison: options.poison })),
        maxAttempts: options.maxAttempts ?? 0,
        timeout: options.timeoutMs !== undefined ? durationFromMs(options.timeoutMs) : undefined,
        dedupKey: nonce,
        dedupWindow: durationFromMs(3_600_000),
      })),
    };
    const deadline = Date.now() + (options.deadlineMs ?? 60_000);
    for (;;) {
      const client = this.clients[this.next % this.clients.length]!;
      try {
        const response = await client.enqueueJobs(request, { timeoutMs: 5_000 });
        const ids = response.jobs.map((job, i) => {
          const nonce = (JSON.parse(new TextDecoder().decode(job.payload)) as { nonce: string }).nonce;
          if (nonce !== nonces[i]) throw new Error(`EnqueueJobs answered job ${job.id} with nonce ${nonce} for ${nonces[i]}`);
          this.history.acknowledge(nonce, job.id);
          return job.id;
        });
        if (this.spread) this.next++;
        return ids;
      } catch (error) {
        if (error instanceof Error && error.message.startsWith("EnqueueJobs answered")) throw error;
        this.failures++;
        this.next++;
        if (Date.now() > deadline) throw new Error(`enqueue kept failing for ${options.deadlineMs ?? 60_000} ms: ${String(error)}`, { cause: error });
        await sleep(50 + this.random.int(0, 150));
      }
    }
  }

  /** Enqueues `total` jobs in batches, pausing between them; resolves when all are acknowledged. */
  async run(queue: string, total: number, batch: number, pauseMs: number, options: EnqueueOptions = {}): Promise<void> {
    for (let sent = 0; sent < total; sent += batch) {
      await this.enqueue(queue, Math.min(batch, total - sent), options);
      if (pauseMs > 0) await sleep(this.random.int(pauseMs / 2, pauseMs * 1.5));
    }
  }
}

export interface WorkerSpec {
  urls: string[];
  queues: string[];
  id: string;
  concurrency?: number;
  /** "min-max" in ms. */
  workMs?: string;
  resume?: boolean;
  resumeGraceMs?: number;
  clientPingMs?: number;
  backoffMs?: number;
}

/**
 * The body of a test of one fault scenario under `seed`. Whether the body passes or fails,
 * every process, broker and proxy the scenario started ends with it.
 */
export function inScenario(name: string, seed: number, body: (scenario: Scenario) => Promise<void>): () => Promise<void> {
  return async () => {
    const scenario = new Scenario(name, seed);
    try {
      await body(scenario);
    } finally {
      await scenario.cleanup();
    }
  };
}

/** One fault scenario: its history, its processes, its seed. */
export class Scenario {
  readonly history: History;
  readonly random: Rng;
  readonly processes: TestProcess[] = [];
  /** Closed by cleanup once the processes are gone, last registered first. */
  private readonly closers: (() => unknown)[] = [];
  private readonly started = Date.now();

  constructor(
    readonly name: string,
    readonly seed: number,
  ) {
    this.history = new History(name, seed);
    this.random = rng(seed, name);
  }

  producer(urls: string[], spread = false): Producer {
    return new Producer(this.history, urls, spread);
  }

  /** Starts a fault worker and waits until it is up; its events join the history. */
  async worker(spec: WorkerSpec): Promise<TestProcess> {
    const child = spawnTs("test/faults/fixtures/fault-worker.ts", {
      BATON_URLS: spec.urls.join(","),
      QUEUES: spec.queues.join(","),
      WORKER_ID: spec.id,
      CONCURRENCY: String(spec.concurrency ?? 10),
      WORK_MS: spec.workMs ?? "5-30",
      RESUME: spec.resume ? "1" : "0",
      RESUME_GRACE_MS: String(spec.resumeGraceMs ?? 5_000),
      CLIENT_PING_MS: String(spec.clientPingMs ?? 10_000),
      BACKOFF_MS: String(spec.backoffMs ?? 100),
    });
    this.track(child);
    this.history.watch(child);
    await child.waitFor((e) => e.event === "ready");
    return child;
  }

  /** `count` fault workers alike but for their ids, `${spec.id}0`, `${spec.id}1`, …; started together. */
  workers(count: number, spec: WorkerSpec): Promise<TestProcess[]> {
    return Promise.all(Array.from({ length: count }, (_, i) => this.worker({ ...spec, id: `${spec.id}${i}` })));
  }

  /** Acks the broker confirmed so far (fault schedules key off progress, not time). */
  confirmedAcks(): number {
    return this.history.workerEvents().filter((e) => e.event === "settled" && e.ok).length;
  }

  /**
   * Waits for fault point `k` of `faults` spread over a run of `total` jobs: about (k + 1) /
   * (faults + 2) of the jobs acked, give or take a seeded ten, so that no fault strikes at the
   * very start or end and each seed strikes at its own moments.
   */
  async reachFaultPoint(k: number, faults: number, total: number, limitMs = 60_000): Promise<void> {
    const threshold = Math.floor((total * (k + 1)) / (faults + 2)) + this.random.int(-10, 10);
    await waitUntil(() => this.confirmedAcks() >= threshold, `${threshold} acks`, limitMs);
  }

  track(child: TestProcess): TestProcess {
    this.processes.push(child);
    return child;
  }

  /** Runs `close` at cleanup, after the scenario's processes have ended. */
  onCleanup(close: () => unknown): void {
    this.closers.push(close);
  }

  /** An in-process broker over a fresh database, stopped at cleanup. */
  async testBroker(overrides: BrokerOverrides = {}): Promise<TestBroker> {
    const broker = await startTestBroker(overrides);
    this.onCleanup(() => broker.stop());
    return broker;
  }

  /** `baton serve` in its own process, killed at cleanup. */
  async brokerProcess(databaseUrl: string, options: { port?: number; env?: ChildEnv } = {}): Promise<BrokerProcess> {
    const broker = await startBrokerProcess(databaseUrl, options);
    this.track(broker.process);
    return broker;
  }

  /** A loopback TCP proxy to `port`, with the scenario's random stream, closed at cleanup. */
  async tcpProxy(port: number, host?: string): Promise<TcpProxy> {
    const proxy = await startTcpProxy(port, this.random, host);
    this.onCleanup(() => proxy.close());
    return proxy;
  }

  /**
   * Waits until every job of these queues is finished (or the time is up), reads the final
   * state, checks the history, records the figures, and fails the test on any violation.
   */
  async verify(databaseUrl: string, queues: string[], options: CheckOptions & { timeoutMs?: number; notes?: Record<string, unknown> } = {}): Promise<CheckReport> {
    const ids = this.history.acknowledgedIds;
    expect(ids.length).toBeGreaterThan(0);
    try {
      await waitUntil(async () => (await unfinished(databaseUrl, queues)) === 0, `every job of ${queues.join(", ")} to finish`, options.timeoutMs ?? timeoutMs(60_000), 100);
    } catch {
      // The checker names each job that did not finish.
    }
    // Lines the workers printed just before the last commits may still be in the pipes.
    await sleep(300);
    const report = check(this.history, await readFinalState(databaseUrl, queues), options);
    // Not a correctness violation (a failed settlement is answered "retry"), but worth seeing.
    const [stats] = await sql<{ deadlocks: number }>(databaseUrl, "select deadlocks::int from pg_stat_database where datname = current_database()");
    report.deadlocks = stats?.deadlocks ?? 0;
    recordReport(report, Date.now() - this.started, options.notes);
    assertValid(report);
    return report;
  }

  async cleanup(): Promise<void> {
    await killAll(this.processes);
    for (const close of [...this.closers].reverse()) await close();
  }
}
