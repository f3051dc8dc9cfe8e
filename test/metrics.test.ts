/**
 * /metrics: valid Prometheus text exposition; counters and histograms of each replica that add
 * up over replicas to the jobs processed; gauges of the shared database, from one indexed query.
 */
import { readStatements } from "../src/store/statements.js";
import { afterAll, beforeAll, expect, test } from "vitest";
import { formatExposition } from "../src/telemetry/exposition.js";
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
    scrapes.every((families) => sampleValue(families, "baton_worker_streams")! >= 1);
  let both = await Promise.all([scrape(broker), scrape(replica)]);
  // Scrapes are cached for a second; the reaper and the lease keeper finish on their own time.
  const deadline = Date.now() + 10_000;
  await eventually(async () => matches((both = await Promise.all([scrape(broker), scrape(replica)]))) || Date.now() > deadline, { intervalMs: 200 });
  for (const [name, labels, value] of expected) expect(summed(both, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(value);
  for (const families of both) {
    for (const [name, labels, value] of gauges) expect(sampleValue(families, name, labels), `${name} ${JSON.stringify(labels)}`).toBe(value);
    expect(sampleValue(families, "baton_worker_streams")).toBeGreaterThanOrEqual(1);
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
    expect(sampleValue(await scrape(target), "baton_jobs", { queue: "m-live", state: "leased" })).toBe(0);
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
