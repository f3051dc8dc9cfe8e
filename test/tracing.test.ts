/**
 * Job spans end to end: the triggers of migration 0005 write them in the transaction of each
 * state change, the relay exports them over OTLP/HTTP, and a real receiver started here decodes
 * what arrives. Also: a rolled-back enqueue leaves no span, a collector outage loses nothing,
 * and a broker killed with SIGKILL before exporting exports after its restart, once per span.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { loadConfig } from "../src/config.js";
import { processSpanId, sendSpanId } from "../src/telemetry/trace-context.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./fixtures/otlp-receiver.js";
import { parseExposition, sampleValue } from "./fixtures/prometheus.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { chainSpans } from "./helpers/chain-spans.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { type TestProcess, killAll, spawnTs } from "./helpers/process.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";

/** The receiver here decodes the OTLP JSON encoding. */
const tracingDefaults = { ...loadConfig({}).tracing, protocol: "http/json" as const };

const PRODUCER = 4;
const CONSUMER = 5;
const INTERNAL = 1;

let receiver: OtlpReceiver;
let broker: TestBroker;
const processes: TestProcess[] = [];

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  broker = await startTestBroker({
    tracing: { ...tracingDefaults, url: receiver.tracesUrl, serviceName: "baton-test", relayIntervalMs: 50, relayBatchSize: 512, outboxMaxRows: 1_000_000 },
  });
});

afterAll(async () => {
  await killAll(processes);
  await broker?.stop();
  await receiver?.close();
});

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const spansOf = (traceId: string) => receiver.spans.filter((s) => s.traceId === traceId);
const one = (spans: ReceivedSpan[], name: string, jobId: string) => {
  const found = spans.filter((s) => s.name === name && s.attributes["messaging.message.id"] === jobId);
  expect(found, `${name} of job ${jobId}`).toHaveLength(1);
  return found[0]!;
};

async function ackNext(stream: TestStream, continueWith: { queue: string }[] = []) {
  const delivery = await stream.next("job");
  stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken, continueWith } });
  expect(await stream.next("settled")).toMatchObject({ jobId: delivery.job!.id, ok: true });
  stream.send({ case: "credit", value: { n: 1 } });
  return delivery;
}

test("span ids computed by the broker match the database's", async () => {
  const [row] = await sql<{ send: string; process: string }>(
    broker.databaseUrl,
    "select baton.send_span_id(12345) as send, baton.process_span_id(12345, 3, 2) as process",
  );
  expect(row).toEqual({ send: sendSpanId("12345"), process: processSpanId("12345", 3, 2) });
});

test("a three-job chain arrives as one trace: send A → process A → send B → process B → send C → process C", async () => {
  const traceId = hex(16);
  const producerSpan = hex(8);
  const { job: a } = await broker.jobs.enqueueJob(
    { queue: "trace-a" },
    { headers: { traceparent: `00-${traceId}-${producerSpan}-01` } },
  );
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["trace-a", "trace-b", "trace-c"], maxInFlight: 1 } });
  const deliveredA = await ackNext(stream, [{ queue: "trace-b" }]);
  const deliveredB = await ackNext(stream, [{ queue: "trace-c" }]);
  const deliveredC = await ackNext(stream);
  stream.close();
  const [b, c] = [deliveredB.job!, deliveredC.job!];

  await receiver.waitFor(() => spansOf(traceId).length >= 6);
  const spans = spansOf(traceId);
  expect(spans).toHaveLength(6);
  const path = chainSpans(
    [
      { id: a!.id, queue: "trace-a" },
      { id: b.id, queue: "trace-b" },
      { id: c.id, queue: "trace-c" },
    ],
    (name, id) => one(spans, name, id),
  );
  const [sendA, processA, sendB, processB, sendC, processC] = path as [ReceivedSpan, ReceivedSpan, ReceivedSpan, ReceivedSpan, ReceivedSpan, ReceivedSpan];

  // The tree: producer → send A → process A → send B → process B → send C → process C.
  expect(path.map((s) => s.parentSpanId)).toEqual([producerSpan, ...path.slice(0, -1).map((s) => s.spanId)]);

  for (const send of [sendA, sendB, sendC]) {
    expect(send.kind).toBe(PRODUCER);
    expect(send.attributes).toMatchObject({ "messaging.system": "baton", "messaging.operation.type": "send", "baton.chain_id": a!.id });
  }
  for (const [process, send] of [[processA, sendA], [processB, sendB], [processC, sendC]] as const) {
    expect(process.kind).toBe(CONSUMER);
    expect(process.attributes).toMatchObject({
      "messaging.system": "baton",
      "messaging.operation.type": "process",
      "messaging.destination.name": send.attributes["messaging.destination.name"],
      "baton.attempt": 1,
      "baton.chain_id": a!.id,
      "baton.outcome": "succeeded",
      // The worker that held the attempt, by its hello's worker_id.
      "messaging.client.id": "w",
    });
    // Per the messaging conventions, the consumer span also links to the message's creation.
    expect(process.links).toEqual([expect.objectContaining({ traceId, spanId: send.spanId })]);
    expect(process.status.code).toBe(0);
    expect(process.endNanos).toBeGreaterThanOrEqual(process.startNanos);
    expect(process.serviceName).toBe("baton-test");
  }
  expect(sendB.attributes["baton.parent_id"]).toBe(a!.id);
  expect(processB.startNanos).toBeGreaterThanOrEqual(processA.endNanos);

  // Each worker got the traceparent of its attempt's process span, so its spans nest under it.
  expect(deliveredA.job!.headers.traceparent).toBe(`00-${traceId}-${processA.spanId}-01`);
  expect(deliveredB.job!.headers.traceparent).toBe(`00-${traceId}-${processB.spanId}-01`);
  expect(deliveredC.job!.headers.traceparent).toBe(`00-${traceId}-${processC.spanId}-01`);
});

test("a failed attempt is an error span with the exception; the retry is a span of its own", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "trace-retry", maxAttempts: 3 });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["trace-retry"], maxInFlight: 1 } });
  const first = await stream.next("job");
  stream.send({ case: "nack", value: { jobId: job!.id, leaseToken: first.leaseToken, error: "smtp timeout", retryDelay: { seconds: 0n } } });
  await stream.next("settled");
  stream.send({ case: "credit", value: { n: 1 } });
  const second = await ackNext(stream);
  stream.close();
  const traceId = first.job!.headers.traceparent!.split("-")[1]!;
  expect(second.job!.headers.traceparent).not.toBe(first.job!.headers.traceparent);

  await receiver.waitFor(() => spansOf(traceId).filter((s) => s.name === "process trace-retry").length === 2);
  const [failed, succeeded] = spansOf(traceId)
    .filter((s) => s.name === "process trace-retry")
    .sort((x, y) => Number(x.attributes["baton.attempt"]) - Number(y.attributes["baton.attempt"]));
  expect(failed).toMatchObject({
    status: { code: 2, message: "smtp timeout" },
    attributes: expect.objectContaining({ "baton.attempt": 1, "baton.outcome": "retried", "error.type": "baton.attempt.retried", "messaging.client.id": "w" }),
    events: [{ name: "exception", attributes: expect.objectContaining({ "exception.message": "smtp timeout" }) }],
  });
  expect(succeeded).toMatchObject({ status: { code: 0 }, attributes: expect.objectContaining({ "baton.attempt": 2, "baton.outcome": "succeeded" }) });
  expect(first.job!.headers.traceparent).toBe(`00-${traceId}-${failed!.spanId}-01`);
  expect(second.job!.headers.traceparent).toBe(`00-${traceId}-${succeeded!.spanId}-01`);
  const send = one(spansOf(traceId), "send trace-retry", job!.id);
  expect(failed!.parentSpanId).toBe(send.spanId);
  expect(succeeded!.parentSpanId).toBe(send.spanId);
});

test("a job with two blockers becomes available only after both succeed, and its trace shows the wait", async () => {
  const { jobs: blockers } = await broker.jobs.enqueueJobs({ jobs: [{ queue: "trace-blocker" }, { queue: "trace-blocker" }] });
  const { job: dependant } = await broker.jobs.enqueueJob({ queue: "trace-dependant", dependsOn: blockers.map((j) => j.id) });
  expect(dependant!.state).toBe(JobState.BLOCKED);

  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["trace-blocker", "trace-dependant"], maxInFlight: 1 } });
  const first = await ackNext(stream);
  expect((await broker.jobs.getJob({ id: dependant!.id })).job!.state).toBe(JobState.BLOCKED);
  const second = await ackNext(stream);
  const third = await ackNext(stream);
  stream.close();
  expect([first.job!.id, second.job!.id].sort()).toEqual(blockers.map((j) => j.id).sort());
  expect(third.job!.id).toBe(dependant!.id);

  const traceId = third.job!.headers.traceparent!.split("-")[1]!;
  await receiver.waitFor(() => spansOf(traceId).length >= 3);
  const spans = spansOf(traceId);
  const send = one(spans, "send trace-dependant", dependant!.id);
  const blocked = one(spans, "blocked trace-dependant", dependant!.id);
  const process = one(spans, "process trace-dependant", dependant!.id);
  expect(blocked).toMatchObject({ kind: INTERNAL, parentSpanId: send.spanId, status: { code: 0 } });
  expect(blocked.attributes).toMatchObject({ "baton.outcome": "available", "baton.depends_on": blockers.map((j) => j.id) });
  expect(process.parentSpanId).toBe(send.spanId);

  // The blocked span links to the attempts that released it, and ends when the second did.
  await receiver.waitFor((all) => blockers.every((b) => all.some((s) => s.name === "process trace-blocker" && s.attributes["messaging.message.id"] === b.id)));
  const blockerSpans = blockers.map((b) => receiver.spans.find((s) => s.name === "process trace-blocker" && s.attributes["messaging.message.id"] === b.id)!);
  expect(blocked.links.map((l) => `${l.traceId}/${l.spanId}`).sort()).toEqual(blockerSpans.map((s) => `${s.traceId}/${s.spanId}`).sort());
  const lastBlockerEnd = blockerSpans.reduce((max, s) => (s.endNanos > max ? s.endNanos : max), 0n);
  expect(blocked.endNanos).toBeGreaterThanOrEqual(lastBlockerEnd);
  expect(process.startNanos).toBeGreaterThanOrEqual(blocked.endNanos);
});

test("an unsampled trace costs no span rows: a -00 producer, its attempts and its continuations", async () => {
  const traceId = hex(16);
  const { job } = await broker.jobs.enqueueJob({ queue: "trace-unsampled" }, { headers: { traceparent: `00-${traceId}-${hex(8)}-00` } });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["trace-unsampled", "trace-unsampled-next"], maxInFlight: 1 } });
  const first = await ackNext(stream, [{ queue: "trace-unsampled-next" }]);
  const next = await ackNext(stream);
  // Workers are told the trace is not sampled, so their own spans are not recorded either.
  expect(first.job!.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
  expect(next.job!.headers.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));

  // A sampled job after them: once its spans arrived, the relay is past where theirs would be.
  const sampledTrace = hex(16);
  await broker.jobs.enqueueJob({ queue: "trace-unsampled" }, { headers: { traceparent: `00-${sampledTrace}-${hex(8)}-01` } });
  await ackNext(stream);
  stream.close();
  await receiver.waitFor(() => spansOf(sampledTrace).length === 2);
  expect(spansOf(traceId)).toEqual([]);
  expect(await sql(broker.databaseUrl, "select 1 from baton.span_outbox where job_id = any($1)", [[job!.id, next.job!.id]])).toEqual([]);
});

test("the triggers write spans only for sampled traces, in the transaction of the change", async () => {
  const client = new pg.Client({ connectionString: broker.databaseUrl });
  await client.connect();
  try {
    await client.query("begin");
    const enqueue = async (flags: string) =>
      (await client.query<{ id: string }>("select baton.enqueue('trace-sql', headers => $1) as id", [{ traceparent: `00-${hex(16)}-${hex(8)}-${flags}` }])).rows[0]!.id;
    const sampled = await enqueue("01");
    const unsampled = await enqueue("00");
    const root = (await client.query<{ id: string }>("select baton.enqueue('trace-sql') as id")).rows[0]!.id;
    // Uncommitted: no relay can have exported (and deleted) these rows yet.
    const { rows } = await client.query<{ job_id: string; operation: string }>(
      "select job_id::text, operation from baton.span_outbox where job_id = any($1) order by job_id",
      [[sampled, unsampled, root]],
    );
    expect(rows).toEqual([
      { job_id: sampled, operation: "send" },
      { job_id: root, operation: "send" },
    ]);
    const flags = await client.query<{ id: string; trace_sampled: boolean }>("select j.id::text, j.trace_sampled from baton.jobs j where j.id = any($1) order by j.id", [
      [sampled, unsampled, root],
    ]);
    expect(flags.rows).toEqual([
      { id: sampled, trace_sampled: true },
      { id: unsampled, trace_sampled: false },
      { id: root, trace_sampled: true },
    ]);
  } finally {
    await client.query("rollback");
    await client.end();
  }
});

test("an enqueue whose transaction rolls back produces no span", async () => {
  const client = new pg.Client({ connectionString: broker.databaseUrl });
  await client.connect();
  let rolledBack: string;
  try {
    await client.query("begin");
    rolledBack = (await client.query<{ id: string }>("select baton.enqueue('trace-rollback') as id")).rows[0]!.id;
    await client.query("rollback");
  } finally {
    await client.end();
  }
  const [row] = await sql<{ id: string }>(broker.databaseUrl, "select baton.enqueue('trace-rollback') as id");
  const committed = row!.id;
  // Spans are exported in commit order of their rows; the committed one arriving means the
  // relay has passed the point where the rolled-back one would have been.
  await receiver.waitFor((spans) => spans.some((s) => s.name === "send trace-rollback" && s.attributes["messaging.message.id"] === committed));
  await eventually(async () => (await sql(broker.databaseUrl, "select 1 from baton.span_outbox")).length === 0);
  expect(receiver.spans.filter((s) => s.attributes["messaging.message.id"] === rolledBack!)).toEqual([]);
  expect(await sql(broker.databaseUrl, "select 1 from baton.jobs where id = $1", [rolledBack!])).toEqual([]);
});

test("with the receiver down nothing is lost; the backlog is reported and drains when it returns", async () => {
  await receiver.down();
  try {
    const { jobs } = await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 50 }, () => ({ queue: "trace-outage" })) });
    const ids = new Set(jobs.map((j) => j.id));
    await eventually(async () => (await sql(broker.databaseUrl, "select 1 from baton.span_outbox")).length >= 50);
    const metrics = parseExposition(await (await fetch(`${broker.baseUrl}/metrics`)).text());
    expect(sampleValue(metrics, "baton_span_outbox_rows")).toBeGreaterThanOrEqual(50);
    expect(receiver.spans.some((s) => ids.has(s.attributes["messaging.message.id"] as string))).toBe(false);

    await receiver.up();
    await receiver.waitFor((spans) => spans.filter((s) => s.name === "send trace-outage").length === 50);
    await eventually(async () => (await sql(broker.databaseUrl, "select 1 from baton.span_outbox")).length === 0);
    const sends = receiver.spans.filter((s) => s.name === "send trace-outage");
    expect(new Set(sends.map((s) => s.attributes["messaging.message.id"]))).toEqual(ids);
  } finally {
    await receiver.up();
  }
});

test("past BATON_SPAN_OUTBOX_MAX_ROWS the oldest spans are dropped and counted", async () => {
  const down = await startOtlpReceiver();
  await down.down();
  const bounded = await startTestBroker({
    tracing: { ...tracingDefaults, url: down.tracesUrl, serviceName: "baton-test", relayIntervalMs: 50, relayBatchSize: 512, outboxMaxRows: 10 },
  });
  try {
    const { jobs } = await bounded.jobs.enqueueJobs({ jobs: Array.from({ length: 30 }, () => ({ queue: "trace-bounded" })) });
    const kept = async () => (await sql<{ job_id: string }>(bounded.databaseUrl, "select job_id from baton.span_outbox order by id")).map((r) => r.job_id);
    await eventually(async () => (await kept()).length === 10, { intervalMs: 50 });
    // The newest ten survive.
    expect(await kept()).toEqual(jobs.slice(20).map((j) => j.id));
    const metrics = parseExposition(await (await fetch(`${bounded.baseUrl}/metrics`)).text());
    expect(sampleValue(metrics, "baton_span_outbox_dropped_total")).toBe(20);
    expect(sampleValue(metrics, "baton_span_outbox_rows")).toBe(10);
  } finally {
    await bounded.stop();
  }
});

describe("a broker killed with SIGKILL before exporting", () => {
  test("exports the committed spans after its restart, each span id exactly once", async () => {
    const crashReceiver = await startOtlpReceiver();
    await crashReceiver.down();
    const databaseUrl = await createTestDatabase();
    const env = {
      BATON_DATABASE_URL: databaseUrl,
      BATON_PORT: "0",
      BATON_HOST: "127.0.0.1",
      BATON_AUTH: "off",
      BATON_SPAN_RELAY_SECONDS: "0.05",
      OTEL_EXPORTER_OTLP_ENDPOINT: crashReceiver.endpoint,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      // The live RPC spans of the SDK go to the same receiver, as JSON, promptly.
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100",
      OTEL_SERVICE_NAME: "baton-crash",
      BATON_LOG_LEVEL: "info",
    };
    const start = async () => {
      const child = spawnTs("src/cli/main.ts", env, ["serve"]);
      processes.push(child);
      const serving = await child.waitFor((e) => e.msg === "baton serving");
      const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${serving.port as number}` });
      return { child, jobs: createClient(JobService, transport), workers: createClient(WorkerService, transport) };
    };

    try {
      const first = await start();
      const { jobs } = await first.jobs.enqueueJobs({ jobs: Array.from({ length: 20 }, () => ({ queue: "crash" })) });
      const stream = openStream(first.workers, { case: "hello", value: { workerId: "w", queues: ["crash"], maxInFlight: 1 } });
      for (let i = 0; i < 10; i++) await ackNext(stream);
      // Committed: 20 send spans and 10 process spans, none exported (the receiver is down).
      await eventually(async () => (await sql(databaseUrl, "select 1 from baton.span_outbox")).length === 30);
      first.child.killGroup("SIGKILL");
      await first.child.exited;
      expect(crashReceiver.spans).toEqual([]);

      await crashReceiver.up();
      const second = await start();
      const ids = new Set(jobs.map((j) => j.id));
      const jobSpans = () => crashReceiver.spans.filter((s) => ids.has(s.attributes["messaging.message.id"] as string));
      await crashReceiver.waitFor(() => jobSpans().filter((s) => s.name === "send crash").length === 20 && jobSpans().filter((s) => s.name === "process crash").length >= 10);
      await eventually(async () => (await sql(databaseUrl, "select 1 from baton.span_outbox")).length === 0);
      const spanIds = crashReceiver.spans.map((s) => `${s.traceId}/${s.spanId}`);
      expect(new Set(spanIds).size).toBe(spanIds.length);

      // The killed broker's leases came back as failed attempts when they expired: more spans,
      // never duplicates. The restarted broker also traces its RPCs live: a new enqueue's send
      // span is a child of the EnqueueJob server span.
      const { job } = await second.jobs.enqueueJob({ queue: "crash-live" });
      await crashReceiver.waitFor((spans) => spans.some((s) => s.name === "send crash-live") && spans.some((s) => s.name === "baton.v1.JobService/EnqueueJob"));
      const send = crashReceiver.spans.find((s) => s.name === "send crash-live")!;
      const rpc = crashReceiver.spans.find((s) => s.name === "baton.v1.JobService/EnqueueJob" && s.spanId === send.parentSpanId);
      expect(rpc, "the EnqueueJob server span that is the parent of the send span").toBeDefined();
      expect(rpc!).toMatchObject({ traceId: send.traceId, kind: 2, serviceName: "baton-crash" });
      expect(send.attributes["messaging.message.id"]).toBe(job!.id);
      second.child.killGroup("SIGTERM");
      await second.child.exited;
    } finally {
      await crashReceiver.close();
    }
  });
});
