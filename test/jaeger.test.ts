/**
 * Traces in a real Jaeger v2, read back through its query API (/api/traces/<id>), as an
 * operator would see them: job spans arrive over each OTLP protocol (grpc, http/protobuf,
 * http/json); a three-job chain across two queues, enqueued by an RPC that `baton serve` traces
 * live, is one trace whose parent links run producer → EnqueueJob → send → process → send …,
 * with one resource for the RPC and the job spans; and what the sampler or the producer left
 * unsampled reaches neither the worker as sampled nor Jaeger.
 *
 * Without the jaeger binary the file is skipped with the reason; scripts/install-jaeger.sh
 * builds it into .tools/bin. CI sets BATON_REQUIRE_JAEGER=1 so that a missing binary fails.
 */
import { randomBytes } from "node:crypto";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { loadConfig } from "../src/config.js";
import { type Jaeger, type JaegerSpan, type JaegerTrace, jaegerBin, parentOf, startJaeger, tag } from "./fixtures/jaeger.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { chainSpans } from "./helpers/chain-spans.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { type TestProcess, killAll, spawnTs } from "./helpers/process.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

const skipReason = jaegerBin ? undefined : "Jaeger is not installed: run scripts/install-jaeger.sh";
if (skipReason && process.env.BATON_REQUIRE_JAEGER === "1") throw new Error(`BATON_REQUIRE_JAEGER=1 but ${skipReason}`);
if (skipReason) console.warn(`test/jaeger.test.ts skipped: ${skipReason}`);

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
const flagsOf = (traceparent: string | undefined) => traceparent?.split("-")[3];
const traceIdOf = (traceparent: string | undefined) => traceparent?.split("-")[1];

/**
 * A random trace id whose four 32-bit words XOR to `xor`: the SDK's ratio sampler keeps a
 * trace when that is below ratio × 2^32.
 */
function traceIdWithXor(xor: number): string {
  const words = [0, 1, 2].map(() => randomBytes(4).readUInt32BE());
  words.push((words[0]! ^ words[1]! ^ words[2]! ^ xor) >>> 0);
  return words.map((word) => word.toString(16).padStart(8, "0")).join("");
}

let jaeger: Jaeger;
const brokers: TestBroker[] = [];
const processes: TestProcess[] = [];

beforeAll(async () => {
  if (!skipReason) jaeger = await startJaeger(jaegerBin!);
});

afterAll(async () => {
  await killAll(processes);
  for (const broker of brokers) await broker.stop();
  await jaeger?.stop();
});

/** A broker whose tracing comes from these OpenTelemetry variables, as `serve` reads them. */
async function tracedBroker(env: NodeJS.ProcessEnv): Promise<TestBroker> {
  const broker = await startTestBroker({ tracing: { ...loadConfig(env).tracing, relayIntervalMs: 50 } });
  brokers.push(broker);
  return broker;
}

/** The trace once Jaeger holds `count` spans of it. */
async function traceWith(traceId: string, count: number): Promise<JaegerTrace> {
  let found: JaegerTrace | undefined;
  await eventually(async () => ((found = await jaeger.trace(traceId))?.spans.length ?? 0) >= count, { what: `${count} spans of trace ${traceId} in Jaeger` });
  expect(found!.spans).toHaveLength(count);
  return found!;
}

function span(trace: JaegerTrace, operationName: string, jobId?: string): JaegerSpan {
  const found = trace.spans.filter((s) => s.operationName === operationName && (jobId === undefined || tag(s, "messaging.message.id") === jobId));
  expect(found, `${operationName} ${jobId ?? ""}`).toHaveLength(1);
  return found[0]!;
}

async function settleNext(stream: TestStream, settle: "ack" | "nack", continueWith: { queue: string }[] = []) {
  const delivery = await stream.next("job");
  const { id } = delivery.job!;
  if (settle === "ack") stream.send({ case: "ack", value: { jobId: id, leaseToken: delivery.leaseToken, continueWith } });
  else stream.send({ case: "nack", value: { jobId: id, leaseToken: delivery.leaseToken, error: "smtp timeout", retryDelay: { seconds: 0n } } });
  expect(await stream.next("settled")).toMatchObject({ jobId: id, ok: true });
  stream.send({ case: "credit", value: { n: 1 } });
  return delivery;
}

describe.skipIf(skipReason)("Jaeger", () => {
  test.each(["grpc", "http/protobuf", "http/json"] as const)("job spans reach Jaeger over %s", async (protocol) => {
    const name = protocol.replace("/", "-");
    const broker = await tracedBroker({
      OTEL_EXPORTER_OTLP_ENDPOINT: protocol === "grpc" ? jaeger.grpcEndpoint : jaeger.httpEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_SERVICE_NAME: `baton-${name}`,
    });
    const traceId = hex(16);
    const producerSpan = hex(8);
    const queue = `jaeger-${name}`;
    const { job } = await broker.jobs.enqueueJob({ queue, maxAttempts: 3 }, { headers: { traceparent: `00-${traceId}-${producerSpan}-01` } });
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: `worker-${name}`, queues: [queue], maxInFlight: 1 } });
    await settleNext(stream, "nack");
    await settleNext(stream, "ack");
    stream.close();

    const trace = await traceWith(traceId, 3);
    const send = span(trace, `send ${queue}`);
    const [failed, succeeded] = trace.spans.filter((s) => s.operationName === `process ${queue}`).sort((a, b) => Number(tag(a, "baton.attempt")) - Number(tag(b, "baton.attempt")));
    expect(parentOf(send)).toBe(producerSpan);
    expect(parentOf(failed!)).toBe(send.spanID);
    expect(parentOf(succeeded!)).toBe(send.spanID);
    expect(tag(send, "messaging.message.id")).toBe(job!.id);
    expect(tag(failed!, "error.type")).toBe("baton.attempt.retried");
    expect(tag(failed!, "error")).toBe(true);
    expect(tag(succeeded!, "error.type")).toBeUndefined();
    for (const process of [failed!, succeeded!]) expect(tag(process, "messaging.client.id")).toBe(`worker-${name}`);
    expect(Object.values(trace.processes).map((p) => p.serviceName)).toEqual([`baton-${name}`]);
  });

  test("a three-job chain across two queues, enqueued through a traced RPC, is one trace with the right parent links", async () => {
    const env = {
      BATON_DATABASE_URL: await createTestDatabase(),
      BATON_PORT: "0",
      BATON_HOST: "127.0.0.1",
      BATON_AUTH: "off",
      BATON_SPAN_RELAY_SECONDS: "0.05",
      BATON_LOG_LEVEL: "info",
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.grpcEndpoint,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: undefined,
      OTEL_EXPORTER_OTLP_PROTOCOL: "grpc",
      OTEL_SERVICE_NAME: "baton-chain",
      OTEL_RESOURCE_ATTRIBUTES: "deployment.environment.name=ci",
      OTEL_BSP_SCHEDULE_DELAY: "50",
    };
    const child = spawnTs("src/cli/main.ts", env, ["serve"]);
    processes.push(child);
    const serving = await child.waitFor((e) => e.msg === "baton serving");
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${serving.port as number}` });
    const jobs = createClient(JobService, transport);
    const workers = createClient(WorkerService, transport);

    const traceId = hex(16);
    const producerSpan = hex(8);
    const { job: a } = await jobs.enqueueJob({ queue: "chain-first" }, { headers: { traceparent: `00-${traceId}-${producerSpan}-01` } });
    const first = openStream(workers, { case: "hello", value: { workerId: "worker-first", queues: ["chain-first"], maxInFlight: 1 } });
    const second = openStream(workers, { case: "hello", value: { workerId: "worker-second", queues: ["chain-second"], maxInFlight: 1 } });
    const deliveredA = await settleNext(first, "ack", [{ queue: "chain-second" }]);
    const deliveredB = await settleNext(second, "ack", [{ queue: "chain-first" }]);
    const deliveredC = await settleNext(first, "ack");
    first.close();
    second.close();
    const [b, c] = [deliveredB.job!, deliveredC.job!];

    // The EnqueueJob server span (the SDK's, live) and six job spans (the relay's, from the outbox).
    const trace = await traceWith(traceId, 7);
    const rpc = span(trace, "baton.v1.JobService/EnqueueJob");
    const path = chainSpans(
      [
        { id: a!.id, queue: "chain-first" },
        { id: b.id, queue: "chain-second" },
        { id: c.id, queue: "chain-first" },
      ],
      (name, id) => span(trace, name, id),
    );
    const [, processA, , processB, , processC] = path as [JaegerSpan, JaegerSpan, JaegerSpan, JaegerSpan, JaegerSpan, JaegerSpan];
    // The RPC's parent is the producer's span; each job span's, the span before it.
    expect([rpc, ...path].map(parentOf)).toEqual([producerSpan, rpc.spanID, ...path.slice(0, -1).map((s) => s.spanID)]);
    expect(trace.spans.every((s) => s.traceID === traceId)).toBe(true);
    expect([processA, processB, processC].map((s) => tag(s, "messaging.client.id"))).toEqual(["worker-first", "worker-second", "worker-first"]);
    // Each worker was handed its attempt's span as parent, sampled.
    expect(deliveredA.job!.headers.traceparent).toBe(`00-${traceId}-${processA.spanID}-01`);
    expect(deliveredC.job!.headers.traceparent).toBe(`00-${traceId}-${processC.spanID}-01`);

    // One resource for the RPC span and the job spans: Jaeger sees a single process.
    expect(new Set(trace.spans.map((s) => s.processID)).size).toBe(1);
    const [process] = Object.values(trace.processes);
    expect(process!.serviceName).toBe("baton-chain");
    const resource = Object.fromEntries(process!.tags.map((t) => [t.key, t.value]));
    expect(resource).toMatchObject({ "deployment.environment.name": "ci", "process.pid": expect.anything(), "host.name": expect.any(String) });
    child.killGroup("SIGTERM");
    await child.exited;
  });

  test("a producer's unsampled traceparent stays unsampled: the worker gets flag 00 and Jaeger never gets the trace", async () => {
    const broker = await tracedBroker({ OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.httpEndpoint, OTEL_SERVICE_NAME: "baton-unsampled" });
    const unsampled = hex(16);
    await broker.jobs.enqueueJob({ queue: "jaeger-unsampled" }, { headers: { traceparent: `00-${unsampled}-${hex(8)}-00` } });
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["jaeger-unsampled", "jaeger-unsampled-next"], maxInFlight: 1 } });
    const first = await settleNext(stream, "ack", [{ queue: "jaeger-unsampled-next" }]);
    const next = await settleNext(stream, "ack");
    expect([flagsOf(first.job!.headers.traceparent), flagsOf(next.job!.headers.traceparent)]).toEqual(["00", "00"]);

    // A sampled job after them: once Jaeger holds its trace, the relay is past where theirs would be.
    const sentinel = hex(16);
    await broker.jobs.enqueueJob({ queue: "jaeger-unsampled" }, { headers: { traceparent: `00-${sentinel}-${hex(8)}-01` } });
    await settleNext(stream, "ack");
    stream.close();
    await traceWith(sentinel, 2);
    expect(await jaeger.trace(unsampled)).toBeUndefined();
  });

  test("OTEL_TRACES_SAMPLER applies to job spans: traceidratio drops a trace whatever its producer said", async () => {
    const broker = await tracedBroker({
      OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.httpEndpoint,
      OTEL_TRACES_SAMPLER: "traceidratio",
      OTEL_TRACES_SAMPLER_ARG: "0.5",
    });
    const dropped = traceIdWithXor(0xffffffff);
    const kept = traceIdWithXor(1);
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["jaeger-ratio"], maxInFlight: 1 } });
    await broker.jobs.enqueueJob({ queue: "jaeger-ratio" }, { headers: { traceparent: `00-${dropped}-${hex(8)}-01` } });
    expect(flagsOf((await settleNext(stream, "ack")).job!.headers.traceparent)).toBe("00");
    await broker.jobs.enqueueJob({ queue: "jaeger-ratio" }, { headers: { traceparent: `00-${kept}-${hex(8)}-01` } });
    expect(flagsOf((await settleNext(stream, "ack")).job!.headers.traceparent)).toBe("01");
    stream.close();
    await traceWith(kept, 2);
    expect(await jaeger.trace(dropped)).toBeUndefined();
  });

  test("parentbased_always_off: a job that starts its own trace is dropped, a job under a sampled producer is kept", async () => {
    const broker = await tracedBroker({ OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.httpEndpoint, OTEL_TRACES_SAMPLER: "parentbased_always_off" });
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["jaeger-roots"], maxInFlight: 1 } });
    await broker.jobs.enqueueJob({ queue: "jaeger-roots" });
    const root = await settleNext(stream, "ack");
    expect(flagsOf(root.job!.headers.traceparent)).toBe("00");
    const producer = hex(16);
    await broker.jobs.enqueueJob({ queue: "jaeger-roots" }, { headers: { traceparent: `00-${producer}-${hex(8)}-01` } });
    expect(flagsOf((await settleNext(stream, "ack")).job!.headers.traceparent)).toBe("01");
    stream.close();
    await traceWith(producer, 2);
    expect(await jaeger.trace(traceIdOf(root.job!.headers.traceparent)!)).toBeUndefined();
  });

  test("OTEL_TRACES_SAMPLER=always_off: workers get flag 00, and the relay drops the job spans without sending them", async () => {
    const broker = await tracedBroker({ OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.grpcEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc", OTEL_TRACES_SAMPLER: "always_off" });
    // One job with a sampled producer, one that Baton starts a trace for.
    await broker.jobs.enqueueJob({ queue: "jaeger-off" }, { headers: { traceparent: `00-${hex(16)}-${hex(8)}-01` } });
    await broker.jobs.enqueueJob({ queue: "jaeger-off" });
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["jaeger-off"], maxInFlight: 1 } });
    const deliveries = [await settleNext(stream, "ack"), await settleNext(stream, "ack")];
    stream.close();
    expect(deliveries.map((d) => flagsOf(d.job!.headers.traceparent))).toEqual(["00", "00"]);
    // The relay removes spans from the outbox only once its pass decided on them, and a batch
    // it sent was accepted by Jaeger's receiver before that. A sentinel trace sent afterwards,
    // through the same receiver and pipeline, is stored after anything sent before it.
    await eventually(async () => (await sql(broker.databaseUrl, "select 1 from baton.span_outbox")).length === 0, { what: "the relay to empty the outbox" });
    const sentinelBroker = await tracedBroker({ OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.grpcEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" });
    const sentinel = hex(16);
    await sentinelBroker.jobs.enqueueJob({ queue: "jaeger-off-sentinel" }, { headers: { traceparent: `00-${sentinel}-${hex(8)}-01` } });
    await traceWith(sentinel, 1);
    for (const delivery of deliveries) expect(await jaeger.trace(traceIdOf(delivery.job!.headers.traceparent)!)).toBeUndefined();
  });
});
