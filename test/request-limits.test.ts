import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";

/** Counts and bytes of one unary request are capped by documented settings. */
let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ maxPayloadBytes: 16 * 1024, maxRequestBytes: 64 * 1024, maxBatchDependencies: 10 });
});

afterAll(async () => {
  await broker.stop();
});

async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  const error = await call.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

test("an EnqueueJobs batch larger than BATON_MAX_REQUEST_BYTES is RESOURCE_EXHAUSTED, though each payload fits", async () => {
  const jobs = Array.from({ length: 5 }, () => ({ queue: "q", payload: new Uint8Array(15 * 1024) }));
  const error = await refusal(broker.jobs.enqueueJobs({ jobs }));
  expect(error.code).toBe(Code.ResourceExhausted);
  expect(error.rawMessage).toMatch(/message size \d+ is larger than configured readMaxBytes 65536/);
});

test("more depends_on entries in one EnqueueJobs than BATON_MAX_BATCH_DEPENDENCIES is INVALID_ARGUMENT", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "q" });
  const jobs = Array.from({ length: 3 }, () => ({ queue: "q", dependsOn: [job!.id, job!.id, job!.id, job!.id] }));
  const error = await refusal(broker.jobs.enqueueJobs({ jobs }));
  expect(error.code).toBe(Code.InvalidArgument);
  expect(error.rawMessage).toBe("jobs name 12 depends_on and depends_on_index entries in all; the limit is 10 (BATON_MAX_BATCH_DEPENDENCIES)");
  const [{ n }] = (await sql<{ n: number }>(broker.databaseUrl, "select count(*)::int as n from baton.jobs")) as [{ n: number }];
  expect(n).toBe(1);
});
