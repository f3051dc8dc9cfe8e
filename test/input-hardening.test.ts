import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { openStream } from "./helpers/stream.js";

/**
 * Property: whatever a client sends to any RPC, the broker answers with success or a proper
 * error (never internal/unknown), and stays healthy. Requests are Connect JSON over HTTP/1.1,
 * so malformed JSON and wrong field types reach the decoder too. Seeded: BATON_FUZZ_SEED.
 */
const seed = Number(process.env.BATON_FUZZ_SEED ?? 20261202);
const runs = Number(process.env.BATON_FUZZ_RUNS ?? 60);

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ maxPayloadBytes: 4096 });
});

afterAll(async () => {
  await broker.stop();
});

/** Field names each RPC knows, so generated requests hit real validation, not just "unknown field". */
const rpcs: Record<string, string[]> = {
  "baton.v1.JobService/EnqueueJob": ["queue", "payload", "headers", "priority", "runTime", "delay", "maxAttempts", "dedupKey", "dependsOn", "chainId", "timeout", "dedupWindow", "fairnessKey", "workerLabels"],
  "baton.v1.JobService/EnqueueJobs": ["jobs"],
  "baton.v1.JobService/GetJob": ["id"],
  "baton.v1.JobService/ListJobs": ["queue", "state", "chainId", "pageSize", "pageToken"],
  "baton.v1.JobService/CancelJob": ["id"],
  "baton.v1.JobService/RetryJob": ["id"],
  "baton.v1.JobService/RetryJobs": ["queue", "state"],
  "baton.v1.JobService/WaitJob": ["id", "timeout", "chain"],
  "baton.v1.QueueService/GetQueue": ["queue"],
  "baton.v1.QueueService/UpdateQueue": ["queue", "config", "updateMask"],
  "baton.v1.QueueService/PauseQueue": ["queue"],
  "baton.v1.ScheduleService/CreateSchedule": ["schedule"],
  "baton.v1.ScheduleService/DeleteSchedule": ["name"],
  "baton.v1.ScheduleService/UpdateSchedule": ["schedule", "updateMask"],
  "baton.v1.ScheduleService/PauseSchedule": ["name"],
  "baton.v1.ScheduleService/ResumeSchedule": ["name"],
  "baton.v1.ScheduleService/TriggerSchedule": ["name"],
  "baton.v1.WorkerService/ListWorkers": ["queue"],
};

const value = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.constantFrom("", "0", "-1", "1", "9999999999999999999999", "abc", "q", "JOB_STATE_DEAD", "5s", "-5s", "1e9s", "AAAA", "../../etc"),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string({ maxLength: 20 }), fc.integer()), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.oneof(fc.string({ maxLength: 20 }), fc.integer()), { maxKeys: 4 }),
);

const request = fc.constantFrom(...Object.keys(rpcs)).chain((path) =>
  fc.record({
    path: fc.constant(path),
    body: fc.oneof(
      fc.dictionary(fc.constantFrom(...rpcs[path]!), value, { maxKeys: 6 }).map((o) => JSON.stringify(o)),
      fc.string({ maxLength: 100 }),
      fc.constant('{"queue": "ok", "payload": "not base64 !!"}'),
    ),
  }),
);

const PROPER_ERRORS = new Set([
  "invalid_argument",
  "not_found",
  "failed_precondition",
  "resource_exhausted",
  "already_exists",
  "out_of_range",
  "unimplemented",
  "deadline_exceeded",
]);

test("every RPC answers random and malformed requests with success or a proper error", async () => {
  await fc.assert(
    fc.asyncProperty(request, async ({ path, body }) => {
      const response = await fetch(`${broker.baseUrl}/${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "connect-timeout-ms": "2000" },
        body,
      });
      if (response.ok) return;
      const { code } = (await response.json()) as { code: string };
      expect(PROPER_ERRORS, `${path} ${body} → ${code}`).toContain(code);
    }),
    { seed, numRuns: runs },
  );
  // Still healthy and still doing its job.
  const { job } = await broker.jobs.enqueueJob({ queue: "after-fuzz" });
  expect(job!.state).toBe(JobState.AVAILABLE);
});

test("random first and later messages on a worker stream end it with a proper error or are refused", async () => {
  const message = fc.oneof(
    fc.record({ case: fc.constant("credit" as const), value: fc.record({ n: fc.integer({ min: -5, max: 5 }) }) }),
    fc.record({ case: fc.constant("ack" as const), value: fc.record({ jobId: fc.string({ maxLength: 25 }), leaseToken: fc.string({ maxLength: 40 }) }) }),
    fc.record({
      case: fc.constant("nack" as const),
      value: fc.record({ jobId: fc.string({ maxLength: 25 }), leaseToken: fc.uuid(), error: fc.string({ maxLength: 50 }) }),
    }),
    fc.record({
      case: fc.constant("progress" as const),
      value: fc.record({ jobId: fc.string({ maxLength: 25 }), leaseToken: fc.uuid(), percent: fc.integer(), message: fc.string() }),
    }),
    fc.record({ case: fc.constant("pong" as const), value: fc.constant({}) }),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 6 }), fc.boolean(), async (messages, sayHello) => {
      const stream = openStream(broker.workers);
      if (sayHello) stream.send({ case: "hello", value: { workerId: "fuzz", queues: ["fuzz"], maxInFlight: 2 } });
      for (const m of messages) stream.send(m);
      stream.close();
      const error = (await stream.ended) as { code?: number } | undefined;
      // Codes 3 (invalid argument) for protocol violations; a clean end otherwise.
      if (error !== undefined) expect(error.code).toBe(3);
      const refused = stream.received.filter((r) => r.message.case === "settled" && !r.message.value.ok);
      for (const r of refused) expect((r.message.value as { error: string }).error).not.toBe("");
    }),
    { seed, numRuns: Math.ceil(runs / 2) },
  );
});
