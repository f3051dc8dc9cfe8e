/**
 * /metrics: valid Prometheus text exposition, and counters, histograms and gauges that match
 * the jobs processed, whichever replica is scraped (they are kept by database triggers).
 */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createDatabase } from "../src/store/database.js";
import { telemetryFoldCounters } from "../src/store/telemetry.js";
import { formatExposition } from "../src/telemetry/metrics.js";
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

async function settle(stream: TestStream, kind: "ack" | "nack", value: Record<string, unknown> = {}) {
  const delivery = await stream.next("job");
  stream.send({ case: kind, value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken, ...value } } as never);
  expect(await stream.next("settled")).toMatchObject({ jobId: delivery.job!.id, ok: true });
  stream.send({ case: "credit", value: { n: 1 } });
  return delivery.job!;
}

test("the exposition escapes label values and formats special numbers", () => {
  const text = formatExposition([
    {
      name: "x_total",
      help: "a \\ help\nline",
      type: "counter",
      samples: [{ labels: { queue: 'a"b\\c\nd' }, value: 1 }],
    },
    { name: "y", help: "y", type: "gauge", samples: [{ labels: {}, value: Infinity }] },
  ]);
  const parsed = parseExposition(text);
  expect(parsed.get("x_total")!.samples[0]).toEqual({ name: "x_total", labels: { queue: 'a"b\\c\nd' }, value: 1 });
  expect(sampleValue(parsed, "y")).toBe(Infinity);
});

test("counters, histograms and gauges match the jobs processed, on every replica", async () => {
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
    ["baton_jobs", { queue: "m-ok", state: "succeeded" }, 4],
    ["baton_jobs", { queue: "m-ok", state: "available" }, 0],
    ["baton_jobs", { queue: "m-fail", state: "dead" }, 1],
    ["baton_jobs", { queue: "m-fail", state: "cancelled" }, 1],
    ["baton_jobs", { queue: "m-timeout", state: "dead" }, 1],
    ["baton_span_outbox_rows", {}, 0],
    ["baton_span_outbox_dropped_total", {}, 0],
  ];
  const matches = (families: Map<string, ParsedFamily>) =>
    expected.every(([name, labels, value]) => sampleValue(families, name, labels) === value) &&
    sampleValue(families, "baton_worker_streams")! >= 1;
  let mine = await scrape();
  // Scrapes are cached for a second; the reaper and the lease keeper finish on their own time.
  const deadline = Date.now() + 10_000;
  await eventually(async () => matches((mine = await scrape())) || Date.now() > deadline, { intervalMs: 200 });
  for (const [name, labels, value] of expected) expect(sampleValue(mine, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(value);
  expect(sampleValue(mine, "baton_worker_streams")).toBeGreaterThanOrEqual(1);
  expect(sampleValue(mine, "baton_leases_expired_total", { queue: "m-ok" })).toBeUndefined();

  // A run of about a second landed in the le="1" bucket or above, and in the sum.
  expect(sampleValue(mine, "baton_job_run_duration_seconds_sum", { queue: "m-timeout" })).toBeGreaterThanOrEqual(0.9);
  expect(sampleValue(mine, "baton_job_run_duration_seconds_bucket", { queue: "m-timeout", le: "0.5" })).toBe(0);
  expect(sampleValue(mine, "baton_job_run_duration_seconds_bucket", { queue: "m-timeout", le: "+Inf" })).toBe(1);
  expect(mine.get("baton_jobs_enqueued_total")!.type).toBe("counter");
  expect(mine.get("baton_job_run_duration_seconds")!.type).toBe("histogram");
  expect(mine.get("baton_jobs")!.type).toBe("gauge");

  // Another replica reports the same cluster-wide totals.
  let theirs = await scrape(replica);
  await eventually(async () => matches((theirs = await scrape(replica))), { intervalMs: 200 });
  for (const [name, labels, value] of expected) expect(sampleValue(theirs, name, labels)).toBe(value);
  ok.close();
});

test("a rolled-back enqueue counts nothing; counters of ended sessions are folded without loss", async () => {
  const client = new pg.Client({ connectionString: broker.databaseUrl });
  await client.connect();
  await client.query("begin");
  await client.query("select baton.enqueue('m-sql')");
  await client.query("rollback");
  await client.query("select baton.enqueue('m-sql')");
  await client.query("select baton.enqueue('m-sql')");
  const [{ pid }] = (await client.query<{ pid: number }>("select pg_backend_pid() as pid")).rows;
  await client.end();

  const total = async () =>
    (await sql<{ value: number }>(broker.databaseUrl, "select sum(value)::float8 as value from baton.metric_counters where name = 'jobs_enqueued_total' and queue = 'm-sql'"))[0]!.value;
  expect(await total()).toBe(2);
  await eventually(async () => (await sql(broker.databaseUrl, "select 1 from pg_stat_activity where pid = $1", [pid])).length === 0);
  const db = createDatabase({ url: broker.databaseUrl });
  try {
    await telemetryFoldCounters(db);
  } finally {
    await db.close();
  }
  expect(await sql(broker.databaseUrl, "select 1 from baton.metric_counters where backend = $1", [pid])).toEqual([]);
  expect(await total()).toBe(2);
  await eventually(async () => sampleValue(await scrape(), "baton_jobs_enqueued_total", { queue: "m-sql" }) === 2, { intervalMs: 200 });
});

test("/metrics answers GET only", async () => {
  const response = await fetch(`${broker.baseUrl}/metrics`, { method: "POST" });
  expect(response.status).toBe(405);
});
