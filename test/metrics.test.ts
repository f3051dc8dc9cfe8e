/**
 * /metrics: valid Prometheus text exposition; counters and histograms of each replica that add
 * up over replicas to the jobs processed; gauges of the shared database, from one indexed query.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readStatements } from "../src/store/statements.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type ParsedFamily, parseExposition, sampleValue } from "./fixtures/prometheus.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let broker: TestBroker;
let replica: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ broker: { reapIntervalMs: 100 } });
  replica = await startTestBroker({}, broker.databaseUrl);
});

afterAll(async () => {
  await replica?.stop();
  await broker?.stop();
});

async function scrape(target: TestBroker = broker): Promise<Map<string, ParsedFamily>> {
  const response = await fetch(`${target.baseUrl}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await response.text());
}

/** A series summed over both replicas, as sum() in PromQL; undefined when neither has it. */
function summed(scrapes: Map<string, ParsedFamily>[], name: string, labels: Record<string, string> = {}): number | undefined {
  const values = scrapes.map((families) => sampleValue(families, name, labels)).filter((value) => value !== undefined);
  return values.length === 0 ? undefined : values.reduce((sum, value) => sum + value, 0);
}

async function settle(stream: TestStream, kind: "ack" | "nack", value: Record<string, unknown> = {}) {
  const delivery = await stream.next("job");
  stream.send({ case: kind, value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken, ...value } });
  expect(await stream.next("settled")).toMatchObject({ jobId: delivery.job!.id, ok: true });
  stream.send({ case: "credit", value: { n: 1 } });
  return delivery.job!;
}

test("counters and histograms summed over replicas match the jobs processed; gauges are the same on every replica", async () => {
  // m-ok: four jobs succeed.
  await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 4 }, () => ({ queue: "m-ok" })) });
  const ok = openStream(broker.workers, { case: "hello", value: { workerId: "w-ok", queues: ["m-ok"], maxInFlight: 1 } });
  for (let i = 0; i < 4; i++) await settle(ok, "ack");

  // m-fail: one job fails, is retried, then dead-lettered; another is cancelled while waiting.
  await broker.jobs.enqueueJob({ queue: "m-fail", maxAttempts: 2 });
  const fail = openStream(broker.workers, { case: "hello", value: { workerId: "w-fail", queues: ["m-fail"], maxInFlight: 1 } });
  await settle(fail, "nack", { error: "first", retryDelay: { seconds: 0n } });
  await settle(fail, "nack", { error: "second", deadLetter: true });
  fail.close();
  const { job: cancelled } = await broker.jobs.enqueueJob({ queue: "m-fail", start: { case: "delay", value: { seconds: 3600n } } });
  await broker.jobs.cancelJob({ id: cancelled!.id });

  // m-timeout: one attempt outlives its timeout; the lease is revoked and the job ends DEAD.
  const { job: slow } = await broker.jobs.enqueueJob({ queue: "m-timeout", maxAttempts: 1, timeout: { seconds: 1n } });
  const hang = openStream(broker.workers, { case: "hello", value: { workerId: "w-hang", queues: ["m-timeout"], maxInFlight: 1 } });
  await hang.next("job");
  await eventually(async () => (await broker.jobs.getJob({ id: slow!.id })).job!.lastError === "attempt timed out", { intervalMs: 50 });
  hang.close();

  const expected: [string, Record<string, string>, number][] = [
    ["baton_jobs_enqueued_total", { queue: "m-ok" }, 4],
    ["baton_jobs_enqueued_total", { queue: "m-fail" }, 2],
    ["baton_jobs_enqueued_total", { queue: "m-timeout" }, 1],
    ["baton_jobs_finished_total", { queue: "m-ok", outcome: "succeeded" }, 4],
    ["baton_jobs_finished_total", { queue: "m-ok", outcome: "dead" }, 0],
    ["baton_jobs_finished_total", { queue: "m-fail", outcome: "succeeded" }, 0],
    ["baton_jobs_finished_total", { queue: "m-fail", outcome: "dead" }, 1],
    ["baton_jobs_finished_total", { queue: "m-fail", outcome: "cancelled" }, 1],
    ["baton_jobs_finished_total", { queue: "m-timeout", outcome: "dead" }, 1],
    ["baton_jobs_retried_total", { queue: "m-fail" }, 1],
    ["baton_leases_expired_total", { queue: "m-timeout" }, 1],
    ["baton_job_run_duration_seconds_count", { queue: "m-ok" }, 4],
    ["baton_job_run_duration_seconds_count", { queue: "m-fail" }, 2],
    ["baton_job_run_duration_seconds_count", { queue: "m-timeout" }, 1],
    ["baton_job_queue_wait_seconds_count", { queue: "m-ok" }, 4],
    ["baton_job_queue_wait_seconds_count", { queue: "m-fail" }, 2],
    ["baton_span_outbox_dropped_total", {}, 0],
  ];
  const gauges: [string, Record<string, string>, number][] = [["baton_span_outbox_rows", {}, 0]];
  const matches = (scrapes: Map<string, ParsedFamily>[]) =>
    expected.every(([name, labels, value]) => summed(scrapes, name, labels) === value) &&
    scrapes.every((families) => gauges.every(([name, labels, value]) => sampleValue(families, name, labels) === value)) &&
    scrapes.every((families) => sampleValue(families, "baton_worker_streams", { queue: "m-ok" })! >= 1);
  let both = await Promise.all([scrape(broker), scrape(replica)]);
  // Scrapes are cached for a second; the reaper and the lease keeper finish on their own time.
  const deadline = Date.now() + 10_000;
  await eventually(async () => matches((both = await Promise.all([scrape(broker), scrape(replica)]))) || Date.now() > deadline, { intervalMs: 200 });
  for (const [name, labels, value] of expected) expect(summed(both, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(value);
  for (const families of both) {
    for (const [name, labels, value] of gauges) expect(sampleValue(families, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(value);
    expect(sampleValue(families, "baton_worker_streams", { queue: "m-ok" })).toBeGreaterThanOrEqual(1);
    // Finished jobs are counted, not gauged: a queue without live jobs (or settings) has no gauge.
    expect(sampleValue(families, "baton_jobs", { queue: "m-ok", state: "succeeded" })).toBeUndefined();
    expect(sampleValue(families, "baton_jobs", { queue: "m-ok", state: "available" })).toBeUndefined();
  }
  expect(summed(both, "baton_leases_expired_total", { queue: "m-ok" })).toBeUndefined();
  // Each replica counts what it did itself: the replica that served nothing counted no ack.
  expect(sampleValue(both[1], "baton_jobs_finished_total", { queue: "m-ok", outcome: "succeeded" })).toBeUndefined();

  // A run of about a second landed in the le="1" bucket or above, and in the sum.
  expect(summed(both, "baton_job_run_duration_seconds_sum", { queue: "m-timeout" })).toBeGreaterThanOrEqual(0.9);
  expect(summed(both, "baton_job_run_duration_seconds_bucket", { queue: "m-timeout", le: "0.5" })).toBe(0);
  expect(summed(both, "baton_job_run_duration_seconds_bucket", { queue: "m-timeout", le: "+Inf" })).toBe(1);
  const [mine] = both;
  expect(mine.get("baton_jobs_enqueued_total")!.type).toBe("counter");
  expect(mine.get("baton_job_run_duration_seconds")!.type).toBe("histogram");
  expect(mine.get("baton_jobs")!.type).toBe("gauge");
  ok.close();
});

test("the gauges are read through indexes of live jobs, however many finished jobs the table holds", async () => {
  // Each job the root of its own chain, as most are.
  const insert = (queue: string, count: number, finished: boolean) =>
    sql(
      broker.databaseUrl,
      `insert into baton.jobs (id, chain_id, queue, state, finish_time, attempt, max_attempts) overriding system value
       select id, id, $1, $2, $3, $4, 1
       from (select nextval(pg_get_serial_sequence('baton.jobs', 'id')) as id from generate_series(1, $5::int)) ids`,
      [queue, finished ? "succeeded" : "available", finished ? new Date() : null, finished ? 1 : 0, count],
    );
  await insert("m-history", 20_000, true);
  await insert("m-live", 100, false);
  // m-old: one job due ten minutes ago; m-later: one job due in an hour (SCHEDULED, not waiting).
  await sql(broker.databaseUrl, "insert into baton.jobs (chain_id, queue, run_time, max_attempts) values (0, 'm-old', now() - interval '10 minutes', 1)");
  await sql(broker.databaseUrl, "insert into baton.jobs (chain_id, queue, run_time, max_attempts) values (0, 'm-later', now() + interval '1 hour', 1)");
  await sql(broker.databaseUrl, "analyze baton.jobs");
  const query = readStatements(new URL("../src/store/sql/telemetry.sql", import.meta.url)).TelemetryGauges!.text;
  const plan = (await sql<{ "QUERY PLAN": string }>(broker.databaseUrl, `explain ${query.replace("$1::float8", "60::float8")}`))
    .map((row) => row["QUERY PLAN"])
    .join("\n");
  expect(plan).not.toMatch(/Seq Scan on jobs/);
  expect(plan).toMatch(/jobs_claim_idx/);
  expect(plan).toMatch(/jobs_leased_queue_idx/);
  expect(plan).toMatch(/jobs_blocked_idx/);
  for (const target of [broker, replica]) {
    await eventually(async () => sampleValue(await scrape(target), "baton_jobs", { queue: "m-live", state: "available" }) === 100, { intervalMs: 200 });
    const families = await scrape(target);
    expect(sampleValue(families, "baton_jobs", { queue: "m-live", state: "leased" })).toBe(0);
    // The CLI's OLDEST WAIT: how long the oldest due job has waited; nothing waits in m-later.
    expect(sampleValue(families, "baton_queue_oldest_job_age_seconds", { queue: "m-old" })).toBeGreaterThanOrEqual(600);
    expect(sampleValue(families, "baton_queue_oldest_job_age_seconds", { queue: "m-old" })).toBeLessThan(3600);
    expect(sampleValue(families, "baton_queue_oldest_job_age_seconds", { queue: "m-later" })).toBe(0);
    expect(sampleValue(families, "baton_jobs", { queue: "m-later", state: "scheduled" })).toBe(1);
  }
});

test("/metrics answers GET only", async () => {
  const response = await fetch(`${broker.baseUrl}/metrics`, { method: "POST" });
  expect(response.status).toBe(405);
});

test("every background task of a replica reports its passes, its failures and its last success", async () => {
  // The reaper runs every 100 ms on this replica (reapIntervalMs above).
  await eventually(async () => (sampleValue(await scrape(), "baton_maintenance_runs_total", { task: "reaper" }) ?? 0) >= 2, {
    what: "two passes of the reaper",
    intervalMs: 100,
  });
  const families = await scrape();
  for (const task of ["poll", "reaper", "retention", "dependant repair", "scheduler"]) {
    expect(sampleValue(families, "baton_maintenance_failures_total", { task }), task).toBe(0);
  }
  const lastSuccess = sampleValue(families, "baton_maintenance_last_success_timestamp_seconds", { task: "reaper" })!;
  expect(Math.abs(lastSuccess - Date.now() / 1000)).toBeLessThan(60);
});

test("each replica reports its RPCs, its worker streams and its database pool, and the process's runtime", async () => {
  const rpc = (service: string, method: string, more: Record<string, string> = {}) => ({ service: `baton.v1.${service}`, method, ...more });
  const stream = openStream(replica.workers, { case: "hello", value: { workerId: "w-rpc", queues: ["m-rpc"], maxInFlight: 1 } });
  await replica.jobs.enqueueJob({ queue: "m-rpc" });
  await stream.next("job");
  await expect(replica.jobs.enqueueJob({ queue: "not a queue name" })).rejects.toThrow();
  await eventually(
    async () => {
      const families = await scrape(replica);
      return (
        sampleValue(families, "baton_rpc_in_flight", rpc("WorkerService", "Subscribe")) === 1 &&
        sampleValue(families, "baton_replica_worker_streams", { queue: "m-rpc" }) === 1 &&
        sampleValue(families, "baton_replica_jobs_in_flight") === 1 &&
        sampleValue(families, "baton_rpc_handled_total", rpc("JobService", "EnqueueJob", { code: "invalid_argument" })) === 1
      );
    },
    { what: "the open stream and the refused enqueue on the replica's metrics", intervalMs: 200 },
  );
  const families = await scrape(replica);
  expect(sampleValue(families, "baton_rpc_handled_total", rpc("JobService", "EnqueueJob", { code: "ok" }))).toBe(1);
  expect(sampleValue(families, "baton_rpc_started_total", rpc("JobService", "EnqueueJob"))).toBe(2);
  expect(sampleValue(families, "baton_rpc_duration_seconds_count", rpc("JobService", "EnqueueJob"))).toBe(2);
  // Streams are counted as open, not timed.
  expect(sampleValue(families, "baton_rpc_duration_seconds_count", rpc("WorkerService", "Subscribe"))).toBeUndefined();
  // The other replica served none of it.
  expect(sampleValue(await scrape(broker), "baton_replica_worker_streams", { queue: "m-rpc" })).toBeUndefined();

  expect(sampleValue(families, "baton_db_pool_max_connections")).toBe(10);
  const inUse = sampleValue(families, "baton_db_pool_connections", { state: "in_use" })!;
  const idle = sampleValue(families, "baton_db_pool_connections", { state: "idle" })!;
  expect(inUse + idle).toBeGreaterThanOrEqual(1);
  expect(inUse + idle).toBeLessThanOrEqual(10);
  expect(sampleValue(families, "baton_db_pool_waiting_requests")).toBeGreaterThanOrEqual(0);

  const { version } = (await import("../package.json", { with: { type: "json" } })).default;
  expect(sampleValue(families, "baton_build_info", { version, node_version: process.version })).toBe(1);
  for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_eventloop_lag_seconds", "nodejs_heap_size_used_bytes", "nodejs_gc_duration_seconds"]) {
    expect(families.get(name), name).toBeDefined();
  }

  stream.close();
  await eventually(async () => sampleValue(await scrape(replica), "baton_rpc_in_flight", rpc("WorkerService", "Subscribe")) === 0, {
    what: "the closed stream counted as handled",
    intervalMs: 200,
  });
});

/** promtool from .tools/bin (scripts/install-promtool.sh); CI sets BATON_REQUIRE_PROMTOOL=1 so that its absence fails. */
const promtool = new URL("../.tools/bin/promtool", import.meta.url).pathname;
const promtoolMissing = existsSync(promtool) ? undefined : "no .tools/bin/promtool (scripts/install-promtool.sh installs it)";
if (promtoolMissing && process.env.BATON_REQUIRE_PROMTOOL === "1") throw new Error(`BATON_REQUIRE_PROMTOOL=1 but ${promtoolMissing}`);

describe.skipIf(promtoolMissing !== undefined)(`promtool${promtoolMissing ? ` (skipped: ${promtoolMissing})` : ""}`, () => {
  test("promtool check metrics finds nothing to fix in a live /metrics", async () => {
    // Every family present: jobs through both replicas, an open stream, a failed RPC.
    await broker.jobs.enqueueJob({ queue: "m-lint" });
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w-lint", queues: ["m-lint"], maxInFlight: 1 } });
    await settle(stream, "ack");
    const text = await (await fetch(`${broker.baseUrl}/metrics`)).text();
    stream.close();
    const check = spawnSync(promtool, ["check", "metrics"], { input: text, encoding: "utf8" });
    expect(`${check.stdout}${check.stderr}`).toBe("");
    expect(check.status).toBe(0);
  });
});
