import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { decodeJobBatch } from "../clients/ts/src/job-batch.js";
import { JobSchema, JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { SubscribeResponseSchema, SubscribeResponse_JobBatchSchema } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { type LeanDelivery, jobBatchResponse } from "../src/api/job-batch-codec.js";

/** The bytes of the `jobs` field (7) of a response, as the TypeScript worker receives them. */
function batchBytes(deliveries: LeanDelivery[]): Uint8Array {
  const decoded = fromBinary(SubscribeResponseSchema, toBinary(SubscribeResponseSchema, jobBatchResponse(deliveries)));
  if (decoded.message.case !== "jobs") throw new Error("not a jobs message");
  return toBinary(SubscribeResponse_JobBatchSchema, decoded.message.value);
}

/** What the generated decoder makes of a batch, in the client's terms. */
function generic(bytes: Uint8Array) {
  return fromBinary(SubscribeResponse_JobBatchSchema, bytes).deliveries.map((d) => ({
    job: d.job!,
    leaseToken: d.leaseToken,
    dependsOnResults: d.dependsOnResults,
  }));
}

const delivery = fc.record<LeanDelivery>({
  id: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String),
  queue: fc.stringMatching(/^[a-z][a-z0-9_.:-]{0,20}$/),
  payload: fc.uint8Array({ maxLength: 300 }),
  headers: fc.dictionary(fc.string({ maxLength: 12 }), fc.string({ maxLength: 40 }), { maxKeys: 4 }),
  priority: fc.integer({ min: -2_147_483_648, max: 2_147_483_647 }),
  attempt: fc.integer({ min: 0, max: 1000 }),
  maxAttempts: fc.integer({ min: 1, max: 1000 }),
  chainId: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String),
  parentId: fc.oneof(fc.constant(""), fc.bigInt({ min: 1n, max: 2n ** 40n }).map(String)),
  timeoutMs: fc.option(fc.integer({ min: 1, max: 10 * 365 * 86_400_000 }), { nil: undefined }),
  leaseToken: fc.uuid(),
  leaseExpireMs: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  // A null result is omitted.
  dependsOnResults: fc.array(
    fc.record({ jobId: fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String), result: fc.option(fc.uint8Array({ maxLength: 200 }).map(Buffer.from)) }),
    { maxLength: 3 },
  ),
});

describe("the hand-written JobBatch encoder", () => {
  test("writes what the generated schema decodes back field by field, for any lean delivery", () => {
    fc.assert(
      fc.property(fc.array(delivery, { minLength: 1, maxLength: 5 }), (deliveries) => {
        // Through the generic encoder, as Connect sends it, then decoded as a worker does.
        const decoded = fromBinary(SubscribeResponseSchema, toBinary(SubscribeResponseSchema, jobBatchResponse(deliveries)));
        expect(decoded.message.case).toBe("jobs");
        const got = decoded.message.case === "jobs" ? decoded.message.value.deliveries : [];
        expect(got).toHaveLength(deliveries.length);
        got.forEach((d, i) => {
          const want = deliveries[i]!;
          const job = d.job!;
          expect({
            id: job.id, queue: job.queue, payload: Buffer.from(job.payload), headers: job.headers, priority: job.priority,
            attempt: job.attempt, maxAttempts: job.maxAttempts, chainId: job.chainId, parentId: job.parentId,
          }).toEqual({
            id: want.id, queue: want.queue, payload: Buffer.from(want.payload), headers: want.headers, priority: want.priority,
            attempt: want.attempt, maxAttempts: want.maxAttempts, chainId: want.chainId, parentId: want.parentId,
          });
          const timeoutMs = job.timeout ? Number(job.timeout.seconds) * 1000 + job.timeout.nanos / 1e6 : undefined;
          expect(timeoutMs).toBe(want.timeoutMs);
          expect(d.leaseToken).toBe(want.leaseToken);
          expect(Number(d.leaseExpireTime!.seconds) * 1000 + d.leaseExpireTime!.nanos / 1e6).toBe(want.leaseExpireMs);
          expect(d.dependsOnResults.map((r) => ({ jobId: r.jobId, result: r.omitted ? null : Buffer.from(r.result) }))).toEqual(want.dependsOnResults);
        });
      }),
      { numRuns: 300 },
    );
  });
});

describe("the TypeScript worker's JobBatch decoder", () => {
  test("reads any lean batch into exactly the messages the generated decoder builds", () => {
    fc.assert(
      fc.property(fc.array(delivery, { minLength: 1, maxLength: 5 }), (deliveries) => {
        const bytes = batchBytes(deliveries);
        expect(decodeJobBatch(bytes)).toEqual(generic(bytes));
      }),
      { numRuns: 300 },
    );
  });

  test("a job at its defaults is create(JobSchema), field for field", () => {
    const bytes = toBinary(SubscribeResponse_JobBatchSchema, create(SubscribeResponse_JobBatchSchema, { deliveries: [{ job: {}, leaseToken: "t" }] }));
    const [decoded] = decodeJobBatch(bytes);
    expect(decoded!.job).toStrictEqual(create(JobSchema));
  });

  test("a batch with fields the fast path does not read (full jobs) is decoded by the generated code", () => {
    const full = create(SubscribeResponse_JobBatchSchema, {
      deliveries: [
        { job: { id: "7", queue: "q", state: JobState.LEASED, runTime: timestampFromMs(1_700_000_000_000), dependsOn: ["3"] }, leaseToken: "a" },
        { job: { id: "8", queue: "q" }, leaseToken: "b" },
      ],
    });
    const bytes = toBinary(SubscribeResponse_JobBatchSchema, full);
    expect(decodeJobBatch(bytes)).toEqual(generic(bytes));
    expect(decodeJobBatch(bytes)[0]!.job.state).toBe(JobState.LEASED);
  });
});
