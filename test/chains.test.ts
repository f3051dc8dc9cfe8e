import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startReplicas, stopAll } from "./helpers/broker.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let broker: TestBroker;
let replica: TestBroker;

beforeAll(async () => {
  [broker, replica] = (await startReplicas(2)) as [TestBroker, TestBroker];
});

afterAll(() => stopAll([broker, replica]));

const get = async (id: string) => (await broker.jobs.getJob({ id })).job!;

async function ackNext(stream: TestStream, continueWith: { queue: string }[] = []) {
  const delivery = await stream.next("job");
  stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken, continueWith } });
  expect(await stream.next("settled")).toMatchObject({ jobId: delivery.job!.id, ok: true });
  stream.send({ case: "credit", value: { n: 1 } });
  return delivery.job!;
}

test("continue_with builds a chain: one chain id, parent links, listed by chain, awaited as a whole", async () => {
  const { job: a } = await broker.jobs.enqueueJob({ queue: "chain-a" });
  const chainWait = replica.jobs.waitJob({ id: a!.id, chain: true, timeout: durationFromMs(30_000) });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["chain-a", "chain-b", "chain-c"], maxInFlight: 1 } });
  await ackNext(stream, [{ queue: "chain-b" }]);
  const b = await ackNext(stream, [{ queue: "chain-c" }]);
  const c = await ackNext(stream);
  expect(b).toMatchObject({ queue: "chain-b", chainId: a!.id, parentId: a!.id });
  expect(c).toMatchObject({ queue: "chain-c", chainId: a!.id, parentId: b.id });
  const waited = await chainWait;
  expect(waited.timedOut).toBe(false);
  const { jobs } = await broker.jobs.listJobs({ chainId: a!.id });
  expect(jobs.map((j) => j.queue).reverse()).toEqual(["chain-a", "chain-b", "chain-c"]);
  expect(jobs.every((j) => j.state === JobState.SUCCEEDED)).toBe(true);
  stream.close();
});

test("a job with two blockers stays BLOCKED until both succeed, then becomes available in that transaction", async () => {
  const { jobs: blockers } = await broker.jobs.enqueueJobs({ jobs: [{ queue: "blocker" }, { queue: "blocker" }] });
  const { job: dependant } = await broker.jobs.enqueueJob({ queue: "dependant", dependsOn: blockers.map((j) => j.id) });
  expect(dependant).toMatchObject({ state: JobState.BLOCKED, dependsOn: blockers.map((j) => j.id) });

  const consumer = openStream(replica.workers, { case: "hello", value: { workerId: "d", queues: ["dependant"], maxInFlight: 1 } });
  await consumer.next("welcome");
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["blocker"], maxInFlight: 1 } });
  await ackNext(stream);
  expect((await get(dependant!.id)).state).toBe(JobState.BLOCKED);
  await ackNext(stream);
  // Woken by the notification of the transaction that settled the last blocker.
  expect((await consumer.next("job")).job!.id).toBe(dependant!.id);
  stream.close();
  consumer.close();
});

test("a blocker that ends DEAD cancels its dependants, down the chain, with the reason", async () => {
  const { job: blocker } = await broker.jobs.enqueueJob({ queue: "doomed-blocker", maxAttempts: 1 });
  const { job: child } = await broker.jobs.enqueueJob({ queue: "orphan", dependsOn: [blocker!.id] });
  const { job: grandchild } = await broker.jobs.enqueueJob({ queue: "orphan", dependsOn: [child!.id] });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["doomed-blocker"], maxInFlight: 1 } });
  const delivery = await stream.next("job");
  stream.send({ case: "nack", value: { jobId: blocker!.id, leaseToken: delivery.leaseToken, error: "broken" } });
  await eventually(async () => (await get(grandchild!.id)).state === JobState.CANCELLED);
  expect((await get(child!.id)).lastError).toBe(`blocker ${blocker!.id} ended dead`);
  expect((await get(grandchild!.id)).lastError).toBe(`blocker ${child!.id} ended cancelled`);
  stream.close();
});

test("depends_on naming an unknown or failed job is rejected and creates nothing", async () => {
  const unknown = await broker.jobs.enqueueJob({ queue: "never", dependsOn: ["987654321"] }).catch((e: unknown) => e);
  expect((unknown as ConnectError).code).toBe(Code.InvalidArgument);
  expect((unknown as ConnectError).rawMessage).toMatch(/job 987654321, which does not exist/);
  const { job: cancelled } = await broker.jobs.enqueueJob({ queue: "never" });
  await broker.jobs.cancelJob({ id: cancelled!.id });
  const failed = await broker.jobs.enqueueJob({ queue: "never", dependsOn: [cancelled!.id] }).catch((e: unknown) => e);
  expect((failed as ConnectError).code).toBe(Code.FailedPrecondition);
  const { jobs } = await broker.jobs.listJobs({ queue: "never" });
  expect(jobs.map((j) => j.id)).toEqual([cancelled!.id]);
  // A blocker that already succeeded does not block.
  const { job: done } = await broker.jobs.enqueueJob({ queue: "done-first" });
  const s = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["done-first"], maxInFlight: 1 } });
  await ackNext(s);
  s.close();
  const { job: free } = await broker.jobs.enqueueJob({ queue: "never", dependsOn: [done!.id] });
  expect(free!.state).toBe(JobState.AVAILABLE);
});
