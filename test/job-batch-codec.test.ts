import { fromBinary, toBinary } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { SubscribeResponseSchema } from "../src/gen/baton/v1/worker_service_pb.js";
import { type LeanDelivery, jobBatchResponse } from "../src/api/job-batch-codec.js";

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
        });
      }),
      { numRuns: 300 },
    );
  });
});
