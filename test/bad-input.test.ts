import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { expectError } from "./helpers/errors.js";
import { openStream } from "./helpers/stream.js";

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ maxPayloadBytes: 1024 });
});

afterAll(async () => {
  await broker.stop();
});

const jobCount = async () => (await sql<{ n: number }>(broker.databaseUrl, "select count(*)::int as n from baton.jobs"))[0]!.n;

test("an empty queue name is INVALID_ARGUMENT", async () => {
  await expectError(broker.jobs.enqueueJob({ queue: "" }), Code.InvalidArgument, /queue must not be empty/);
});

test("a malformed queue name is INVALID_ARGUMENT", async () => {
  await expectError(broker.jobs.enqueueJob({ queue: "no spaces!" }), Code.InvalidArgument, /queue "no spaces!" is invalid/);
  await expectError(broker.jobs.enqueueJob({ queue: "x".repeat(129) }), Code.InvalidArgument, /is invalid/);
});

test("a payload over the configured limit is RESOURCE_EXHAUSTED", async () => {
  await expectError(
    broker.jobs.enqueueJob({ queue: "big", payload: new Uint8Array(1025) }),
    Code.ResourceExhausted,
    /payload is 1025 bytes; the limit is 1024/,
  );
});

test("one bad job fails the whole batch, naming it, and nothing is created", async () => {
  await expectError(
    broker.jobs.enqueueJobs({ jobs: [{ queue: "ok" }, { queue: "" }] }),
    Code.InvalidArgument,
    /jobs\[1\]\.queue must not be empty/,
  );
});

test("an unknown job id is NOT_FOUND and a malformed one INVALID_ARGUMENT", async () => {
  await expectError(broker.jobs.getJob({ id: "999999" }), Code.NotFound, /job 999999 not found/);
  await expectError(broker.jobs.getJob({ id: "abc" }), Code.InvalidArgument, /"abc" is not a job id/);
});

test("a Subscribe that does not start with hello is INVALID_ARGUMENT", async () => {
  const stream = openStream(broker.workers, { case: "credit", value: { n: 5 } });
  const error = await stream.ended;
  expect(error).toBeInstanceOf(ConnectError);
  expect((error as ConnectError).code).toBe(Code.InvalidArgument);
  expect((error as ConnectError).rawMessage).toMatch(/first message of Subscribe must be hello, not credit/);
});

test("a hello without queues or with a bad max_in_flight is INVALID_ARGUMENT", async () => {
  const noQueues = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: [], maxInFlight: 1 } });
  expect(((await noQueues.ended) as ConnectError).rawMessage).toMatch(/hello.queues must name at least one queue/);
  const noCredit = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["q"], maxInFlight: 0 } });
  expect(((await noCredit.ended) as ConnectError).code).toBe(Code.InvalidArgument);
});

test("depends_on_index must name an earlier job of the same EnqueueJobs, and is refused elsewhere", async () => {
  const batch = (jobs: { queue: string; dependsOnIndex?: number[]; dependsOn?: string[] }[]) => broker.jobs.enqueueJobs({ jobs });
  await expectError(
    batch([{ queue: "dag" }, { queue: "dag", dependsOnIndex: [2] }, { queue: "dag" }]),
    Code.InvalidArgument,
    "jobs[1].depends_on_index[0] is 2: it must name an earlier job of the request (use 0), so that the jobs form no cycle",
  );
  await expectError(
    batch([{ queue: "dag" }, { queue: "dag", dependsOnIndex: [0, 1] }]),
    Code.InvalidArgument,
    "jobs[1].depends_on_index[1] is 1, this job's own position: a job cannot wait for itself",
  );
  await expectError(batch([{ queue: "dag", dependsOnIndex: [-1] }]), Code.InvalidArgument, /jobs\[0\]\.depends_on_index\[0\] is -1: .*the first job can wait for no other job/);
  await expectError(
    batch([{ queue: "dag" }, { queue: "dag", dependsOnIndex: [0], dependsOn: Array.from({ length: 100 }, (_, i) => String(i + 1)) }]),
    Code.InvalidArgument,
    "depends_on and jobs[1].depends_on_index name 101 jobs together; the limit is 100",
  );
  await expectError(
    broker.jobs.enqueueJob({ queue: "dag", dependsOnIndex: [0] }),
    Code.InvalidArgument,
    /^depends_on_index is only allowed in EnqueueJobs, where it names other jobs of the same request/,
  );
});

test("none of the rejected requests created a job", async () => {
  expect(await jobCount()).toBe(0);
});
