import http2 from "node:http2";
import { gzipSync } from "node:zlib";
import { type DescMessage, type MessageInitShape, create, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import {
  DedupPolicy,
  EnqueueJobRequestSchema,
  EnqueueJobsRequestSchema,
  GetJobRequestSchema,
  ListJobsRequestSchema,
  WaitJobRequestSchema,
} from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { ListQueuesRequestSchema, UpdateQueueRequestSchema } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { CreateScheduleRequestSchema, ListSchedulesRequestSchema } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";

/**
 * Hostile unary requests, as binary protobuf over real HTTP: each used to reach PostgreSQL (or
 * Connect's decoder) and come back INTERNAL. Each must be INVALID_ARGUMENT with a message that
 * names the field, and change nothing in the database.
 */
let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker();
});

afterAll(async () => {
  await broker.stop();
});

const bin = <D extends DescMessage>(schema: D, init: MessageInitShape<D>) => toBinary(schema, create(schema, init));
const enqueue = (init: MessageInitShape<typeof EnqueueJobRequestSchema>) => bin(EnqueueJobRequestSchema, { queue: "q", ...init });
const schedule = (init: { headers?: Record<string, string>; cron?: string; timeZone?: string; priority?: number; maxAttempts?: number }) =>
  bin(CreateScheduleRequestSchema, { schedule: { name: "s", queue: "q", cron: "* * * * *", ...init } });
const base64url = (text: string) => Buffer.from(text).toString("base64url");
const TOO_LONG = 2n ** 62n;

interface Case {
  name: string;
  rpc: string;
  body: Uint8Array;
  message: RegExp;
}

const cases: Case[] = [
  { name: "delay of 2^62 s", rpc: "JobService/EnqueueJob", body: enqueue({ start: { case: "delay", value: { seconds: TOO_LONG } } }), message: /^delay is 4611686018427387904s; a duration must lie within ±3155760000s/ },
  { name: "delay with nanos past a second", rpc: "JobService/EnqueueJob", body: enqueue({ start: { case: "delay", value: { seconds: 1n, nanos: 2_000_000_000 } } }), message: /^delay is not a valid Duration: nanos 2000000000/ },
  { name: "run_time of 2^62 s", rpc: "JobService/EnqueueJob", body: enqueue({ start: { case: "runTime", value: { seconds: TOO_LONG } } }), message: /^run_time is 4611686018427387904s since the epoch; a Timestamp must lie within 0001-01-01 and 9999-12-31/ },
  { name: "run_time in year 300000", rpc: "JobService/EnqueueJob", body: enqueue({ start: { case: "runTime", value: { seconds: 9_400_000_000_000n } } }), message: /^run_time is 9400000000000s since the epoch/ },
  { name: "run_time before year 1", rpc: "JobService/EnqueueJob", body: enqueue({ start: { case: "runTime", value: { seconds: -9_400_000_000_000n } } }), message: /^run_time is -9400000000000s since the epoch/ },
  { name: "run_time with negative nanos", rpc: "JobService/EnqueueJob", body: enqueue({ start: { case: "runTime", value: { seconds: 1n, nanos: -1 } } }), message: /^run_time is not a valid Timestamp: nanos -1/ },
  { name: "timeout of 2^62 s", rpc: "JobService/EnqueueJob", body: enqueue({ timeout: { seconds: TOO_LONG } }), message: /^timeout is 4611686018427387904s/ },
  { name: "timeout of 1 ns", rpc: "JobService/EnqueueJob", body: enqueue({ timeout: { nanos: 1 } }), message: /^timeout must be at least 1 microsecond$/ },
  { name: "dedup_window of 2^62 s", rpc: "JobService/EnqueueJob", body: enqueue({ dedupKey: "k", dedupWindow: { seconds: TOO_LONG } }), message: /^dedup_window is 4611686018427387904s/ },
  { name: "dedup_policy -1 (no DedupPolicy)", rpc: "JobService/EnqueueJob", body: enqueue({ dedupKey: "k", dedupPolicy: -1 as DedupPolicy }), message: /^dedup_policy -1 is not a DedupPolicy/ },
  { name: "dedup_policy REPLACE without dedup_key", rpc: "JobService/EnqueueJob", body: enqueue({ dedupPolicy: DedupPolicy.REPLACE }), message: /^dedup_policy needs a dedup_key$/ },
  { name: "NUL in dedup_key", rpc: "JobService/EnqueueJob", body: enqueue({ dedupKey: "a\0b" }), message: /^dedup_key contains a NUL byte$/ },
  { name: "dedup_key over 512 bytes", rpc: "JobService/EnqueueJob", body: enqueue({ dedupKey: "é".repeat(300) }), message: /^dedup_key is 600 bytes \(UTF-8\); the limit is 512$/ },
  { name: "NUL in fairness_key", rpc: "JobService/EnqueueJob", body: enqueue({ fairnessKey: "a\0" }), message: /^fairness_key contains a NUL byte$/ },
  { name: "NUL in a worker label's value", rpc: "JobService/EnqueueJob", body: enqueue({ workerLabels: { gpu: "a\0" } }), message: /^worker_labels\["gpu"\] contains a NUL byte$/ },
  { name: "a worker label key with a NUL", rpc: "JobService/EnqueueJob", body: enqueue({ workerLabels: { "g\0": "a" } }), message: /^worker_labels\["g\\u0000"\]: the key is invalid/ },
  { name: "more than 16 worker labels", rpc: "JobService/EnqueueJob", body: enqueue({ workerLabels: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])) }), message: /^worker_labels has 17 entries; the limit is 16$/ },
  { name: "NUL in a header value", rpc: "JobService/EnqueueJob", body: enqueue({ headers: { x: "a\0" } }), message: /^headers\["x"\] contains a NUL byte$/ },
  { name: "NUL in a header name", rpc: "JobService/EnqueueJob", body: enqueue({ headers: { "x\0": "a" } }), message: /^headers\["x\\u0000"\] \(the name\) contains a NUL byte$/ },
  {
    name: "NUL in a header of the fourth job of a batch",
    rpc: "JobService/EnqueueJobs",
    body: bin(EnqueueJobsRequestSchema, { jobs: [{ queue: "q" }, { queue: "q" }, { queue: "q" }, { queue: "q", headers: { x: "\0" } }] }),
    message: /^jobs\[3\]\.headers\["x"\] contains a NUL byte$/,
  },
  {
    name: "delay of 2^62 s in the second job of a batch",
    rpc: "JobService/EnqueueJobs",
    body: bin(EnqueueJobsRequestSchema, { jobs: [{ queue: "q" }, { queue: "q", start: { case: "delay", value: { seconds: TOO_LONG } } }] }),
    message: /^jobs\[1\]\.delay is 4611686018427387904s/,
  },
  { name: "page token with a 19-digit id past 2^63", rpc: "JobService/ListJobs", body: bin(ListJobsRequestSchema, { pageToken: base64url("id:9999999999999999999") }), message: /^page_token is not a token returned by ListJobs$/ },
  { name: "ListQueues page token of a name with a NUL", rpc: "QueueService/ListQueues", body: bin(ListQueuesRequestSchema, { pageToken: base64url("queue:a\0") }), message: /^page_token is not a token returned by ListQueues$/ },
  { name: "ListQueues page_size of 2^31 - 1", rpc: "QueueService/ListQueues", body: bin(ListQueuesRequestSchema, { pageSize: 2147483647 }), message: /^page_size must be between 1 and 1000 \(0 means 100\)$/ },
  { name: "ListSchedules page token of a ListQueues cursor", rpc: "ScheduleService/ListSchedules", body: bin(ListSchedulesRequestSchema, { pageToken: base64url("queue:a") }), message: /^page_token is not a token returned by ListSchedules$/ },
  { name: "ListSchedules page_size of -2^31", rpc: "ScheduleService/ListSchedules", body: bin(ListSchedulesRequestSchema, { pageSize: -2147483648 }), message: /^page_size must be between 1 and 1000 \(0 means 100\)$/ },
  { name: "WaitJob timeout with nanos out of range", rpc: "JobService/WaitJob", body: bin(WaitJobRequestSchema, { id: "1", timeout: { seconds: -1n, nanos: 5 } }), message: /^timeout is not a valid Duration/ },
  { name: "queue lease_duration of 2^62 s", rpc: "QueueService/UpdateQueue", body: bin(UpdateQueueRequestSchema, { queue: "q", config: { leaseDuration: { seconds: TOO_LONG } } }), message: /^config\.lease_duration is 4611686018427387904s/ },
  { name: "queue retry_base_delay of 2^62 s", rpc: "QueueService/UpdateQueue", body: bin(UpdateQueueRequestSchema, { queue: "q", config: { retryBaseDelay: { seconds: TOO_LONG } } }), message: /^config\.retry_base_delay is 4611686018427387904s/ },
  { name: "queue rate_limit of 1e308 per second", rpc: "QueueService/UpdateQueue", body: bin(UpdateQueueRequestSchema, { queue: "q", config: { rateLimit: 1e308 } }), message: /^config\.rate_limit must be positive and at most 1000000 per second/ },
  { name: "queue retry_base_delay of 1 ns", rpc: "QueueService/UpdateQueue", body: bin(UpdateQueueRequestSchema, { queue: "q", config: { retryBaseDelay: { nanos: 1 } } }), message: /^config\.retry_base_delay must be at least 1 microsecond$/ },
  { name: "NUL in a schedule header", rpc: "ScheduleService/CreateSchedule", body: schedule({ headers: { a: "\0" } }), message: /^schedule\.headers\["a"\] contains a NUL byte$/ },
  { name: "schedule with more headers than a job may have", rpc: "ScheduleService/CreateSchedule", body: schedule({ headers: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`h${i}`, "v"])) }), message: /^schedule\.headers has 65 entries; the limit is 64 \(BATON_MAX_HEADERS\)$/ },
  { name: "NUL in a schedule's cron", rpc: "ScheduleService/CreateSchedule", body: schedule({ cron: "* * * * *\0" }), message: /^schedule\.cron contains a NUL byte$/ },
  { name: "NUL in a schedule's time zone", rpc: "ScheduleService/CreateSchedule", body: schedule({ timeZone: "UTC\0" }), message: /^schedule\.time_zone contains a NUL byte$/ },
  // Bodies that are not protobuf at all: Connect's decoder fails before any handler runs.
  { name: "a string field that is not UTF-8", rpc: "JobService/EnqueueJob", body: new Uint8Array([0x0a, 2, 0xff, 0xfe]), message: /^the request is not valid protobuf: a string field is not valid UTF-8$/ },
  { name: "a truncated body", rpc: "JobService/EnqueueJob", body: new Uint8Array([0x0a, 20, 0x61]), message: /^the request is not valid protobuf: premature EOF$/ },
  { name: "an illegal wire type", rpc: "JobService/GetJob", body: new Uint8Array([0x0f]), message: /^the request is not valid protobuf: illegal tag/ },
  { name: "a map entry that is not UTF-8", rpc: "ScheduleService/CreateSchedule", body: new Uint8Array([0x0a, 6, 0x32, 4, 0x0a, 2, 0xc3, 0x28]), message: /not valid UTF-8/ },
];

/** Connect protocol, binary: POST with application/proto. */
async function callConnect(rpc: string, body: Uint8Array): Promise<{ code: string; message: string }> {
  const response = await fetch(`${broker.baseUrl}/baton.v1.${rpc}`, { method: "POST", headers: { "content-type": "application/proto" }, body });
  if (response.ok) return { code: "ok", message: "" };
  return (await response.json()) as { code: string; message: string };
}

/** gRPC over HTTP/2: one enveloped message; the status comes in trailers (or trailers-only headers). */
async function callGrpc(rpc: string, body: Uint8Array, flags = 0): Promise<{ status: string; message: string }> {
  const session = http2.connect(broker.baseUrl);
  try {
    const frame = Buffer.alloc(5 + body.byteLength);
    frame[0] = flags;
    frame.writeUInt32BE(body.byteLength, 1);
    frame.set(body, 5);
    const request = session.request({ ":method": "POST", ":path": `/baton.v1.${rpc}`, "content-type": "application/grpc+proto", te: "trailers" });
    const status: Record<string, string> = {};
    const take = (headers: http2.IncomingHttpHeaders) => {
      for (const key of ["grpc-status", "grpc-message"]) if (typeof headers[key] === "string") status[key] = headers[key];
    };
    request.on("response", take);
    request.on("trailers", take);
    request.resume();
    request.end(frame);
    await new Promise((resolve, reject) => request.on("close", resolve).on("error", reject));
    return { status: status["grpc-status"] ?? "", message: decodeURIComponent(status["grpc-message"] ?? "") };
  } finally {
    session.close();
  }
}

/** gRPC-Web: the trailers are the body's last frame. */
async function callGrpcWeb(rpc: string, body: Uint8Array): Promise<string> {
  const frame = new Uint8Array(5 + body.byteLength);
  new DataView(frame.buffer).setUint32(1, body.byteLength);
  frame.set(body, 5);
  const response = await fetch(`${broker.baseUrl}/baton.v1.${rpc}`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: frame });
  return Buffer.from(await response.arrayBuffer()).toString("latin1");
}

function varint(n: number): number[] {
  const bytes: number[] = [];
  for (; n > 0x7f; n >>>= 7) bytes.push((n & 0x7f) | 0x80);
  return [...bytes, n];
}

async function rowCounts() {
  const [row] = await sql(
    broker.databaseUrl,
    "select (select count(*) from baton.jobs)::int as jobs, (select count(*) from baton.queues)::int as queues, (select count(*) from baton.schedules)::int as schedules",
  );
  return row;
}

test.each(cases)("$name is INVALID_ARGUMENT naming the field (Connect)", async ({ rpc, body, message }) => {
  const error = await callConnect(rpc, body);
  expect(error.code).toBe("invalid_argument");
  expect(error.message).toMatch(message);
});

test.each(cases)("$name is INVALID_ARGUMENT naming the field (gRPC)", async ({ rpc, body, message }) => {
  const { status, message: text } = await callGrpc(rpc, body);
  expect(status).toBe("3");
  expect(text).toMatch(message);
});

test("a gRPC message flagged compressed in a request without grpc-encoding is INVALID_ARGUMENT", async () => {
  const { status, message } = await callGrpc("JobService/GetJob", bin(GetJobRequestSchema, { id: "1" }), 1);
  expect(status).toBe("3");
  expect(message).toBe("the request is not valid: a message is flagged compressed, but the request names no encoding");
});

test("a Subscribe message that is not protobuf ends the stream with INVALID_ARGUMENT", async () => {
  const { status, message } = await callGrpc("WorkerService/Subscribe", new Uint8Array([0x0f]));
  expect(status).toBe("3");
  expect(message).toBe("the request is not valid protobuf: illegal tag: field no 1 wire type 7");
});

test("a gzip body cut short is INVALID_ARGUMENT", async () => {
  const gzipped = gzipSync(bin(GetJobRequestSchema, { id: "1" }));
  const response = await fetch(`${broker.baseUrl}/baton.v1.JobService/GetJob`, {
    method: "POST",
    headers: { "content-type": "application/proto", "content-encoding": "gzip" },
    body: gzipped.subarray(0, gzipped.byteLength - 4),
  });
  expect(await response.json()).toEqual({ code: "invalid_argument", message: "the request is not valid: its compressed body cannot be decompressed" });
});

test("a body that is not protobuf is INVALID_ARGUMENT over gRPC-Web too", async () => {
  const trailer = await callGrpcWeb("JobService/GetJob", new Uint8Array([0x0f]));
  expect(trailer).toMatch(/grpc-status: ?3\r\n/);
  expect(trailer).toMatch(/grpc-message: ?the%20request%20is%20not%20valid%20protobuf/);
});

test("none of the refused requests changed the database", async () => {
  expect(await rowCounts()).toEqual({ jobs: 0, queues: 0, schedules: 0 });
});

test("random field values and random bytes never get INTERNAL from any unary RPC", async () => {
  const text = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("", "\0", "a\0b", "q", "1", "9223372036854775808", "9999999999999999999"));
  const int64 = fc.oneof(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), fc.bigInt({ min: -400_000_000_000n, max: 400_000_000_000n }));
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  // Edges matter most: zero, a nanosecond, a second, and the extremes.
  const duration = fc.record({
    seconds: fc.oneof(int64, fc.constantFrom(0n, 1n, -1n)),
    nanos: fc.oneof(int32, fc.integer({ min: -3, max: 3 }), fc.constantFrom(999_999_999, 1_000_000_000, 500)),
  });
  const job = fc.record({
    queue: fc.constantFrom("q", "other"),
    headers: fc.dictionary(text, text, { maxKeys: 3 }),
    priority: int32,
    maxAttempts: int32,
    dedupKey: text,
    fairnessKey: text,
    chainId: text,
    dependsOn: fc.array(text, { maxLength: 2 }),
    timeout: fc.option(duration, { nil: undefined }),
    start: fc.oneof(
      fc.constant({ case: undefined }),
      fc.record({ case: fc.constant("delay" as const), value: duration }),
      fc.record({ case: fc.constant("runTime" as const), value: duration }),
    ),
  });
  const request = fc.oneof(
    job.map((j) => ({ rpc: "JobService/EnqueueJob", body: bin(EnqueueJobRequestSchema, j) })),
    fc.array(job, { minLength: 1, maxLength: 3 }).map((jobs) => ({ rpc: "JobService/EnqueueJobs", body: bin(EnqueueJobsRequestSchema, { jobs }) })),
    fc.record({ pageToken: fc.oneof(text, text.map(base64url)), chainId: text, pageSize: int32 }).map((r) => ({ rpc: "JobService/ListJobs", body: bin(ListJobsRequestSchema, r) })),
    fc.record({ pageToken: fc.oneof(text, text.map((t) => base64url(`queue:${t}`))), pageSize: int32 }).map((r) => ({ rpc: "QueueService/ListQueues", body: bin(ListQueuesRequestSchema, r) })),
    fc.record({ pageToken: fc.oneof(text, text.map((t) => base64url(`schedule:${t}`))), pageSize: int32 }).map((r) => ({ rpc: "ScheduleService/ListSchedules", body: bin(ListSchedulesRequestSchema, r) })),
    fc.record({ id: text }).map((r) => ({ rpc: "JobService/GetJob", body: bin(GetJobRequestSchema, r) })),
    fc.record({ id: text, timeout: fc.option(duration, { nil: undefined }) }).map((r) => ({ rpc: "JobService/WaitJob", body: bin(WaitJobRequestSchema, { ...r, id: "1" }) })),
    fc.record({
      leaseDuration: duration,
      deadRetention: duration,
      maxAttempts: int32,
      rateLimit: fc.double(),
      fairnessConcurrencyLimit: int32,
      fairnessKeyLimit: int32,
      fairnessRateLimit: fc.double(),
    }).map((config) => ({
      rpc: "QueueService/UpdateQueue",
      body: bin(UpdateQueueRequestSchema, { queue: "q", config }),
    })),
    fc.record({ timeZone: text, cron: text, headers: fc.dictionary(text, text, { maxKeys: 3 }), priority: int32, maxAttempts: int32 }).map((s) => ({
      rpc: "ScheduleService/CreateSchedule",
      body: schedule(s),
    })),
    fc.record({
      rpc: fc.constantFrom("JobService/CancelJob", "JobService/RetryJob", "QueueService/GetQueue", "QueueService/PauseQueue", "ScheduleService/DeleteSchedule", "ScheduleService/PauseSchedule", "ScheduleService/ResumeSchedule", "ScheduleService/TriggerSchedule", "WorkerService/ListWorkers"),
      // Field 1 of each of these is its one string (id, queue or name).
      body: text.map((value) => new Uint8Array([0x0a, ...varint(Buffer.byteLength(value)), ...Buffer.from(value)])),
    }),
    fc.record({ rpc: fc.constantFrom("JobService/EnqueueJob", "JobService/ListJobs", "QueueService/UpdateQueue", "ScheduleService/CreateSchedule"), body: fc.uint8Array({ maxLength: 40 }) }),
  );
  await fc.assert(
    fc.asyncProperty(request, async ({ rpc, body }) => {
      const { code, message } = await callConnect(rpc, body);
      expect(["ok", "invalid_argument", "not_found", "failed_precondition", "already_exists", "resource_exhausted"], `${rpc} → ${code}: ${message}`).toContain(code);
    }),
    { seed: Number(process.env.BATON_FUZZ_SEED ?? 20261206), numRuns: Number(process.env.BATON_FUZZ_RUNS ?? 300) },
  );
});


test("a traceparent request header goes into the job's headers only as its 55 characters", async () => {
  const traceparent = `00-${"ab".repeat(16)}-${"cd".repeat(8)}-01`;
  const { job } = await broker.jobs.enqueueJob({ queue: "traced" }, { headers: { traceparent: `${traceparent}-${"x".repeat(8000)}` } });
  expect(job!.headers.traceparent).toBe(traceparent);
});

test("a job timeout longer than a timer can wait (24.8 days) does not spin the lease keeper", async () => {
  const overflows: Error[] = [];
  const onWarning = (warning: Error) => warning.name === "TimeoutOverflowWarning" && overflows.push(warning);
  process.on("warning", onWarning);
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "patient", queues: ["long"], maxInFlight: 1 } });
  try {
    await broker.jobs.enqueueJob({ queue: "long", timeout: { seconds: 30n * 86_400n } });
    const delivery = await stream.next("job");
    // The deadline timer is set before the job is pushed and a warning is emitted on the next
    // tick, so one more round trip is enough for it to have been seen.
    await broker.jobs.getJob({ id: delivery.job!.id });
    expect(overflows).toEqual([]);
  } finally {
    process.off("warning", onWarning);
    stream.close();
  }
});
