import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startReplicas, startTestBroker, stopAll } from "./helpers/broker.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let broker: TestBroker;
let replica: TestBroker;

beforeAll(async () => {
  [broker, replica] = (await startReplicas(2)) as [TestBroker, TestBroker];
});

afterAll(() => stopAll([broker, replica]));

const hello = (queue: string, resume: { jobId: string; leaseToken: string }[] = []) => ({
  case: "hello" as const,
  value: { workerId: "w", queues: [queue], maxInFlight: 2, resume, resumeGrace: durationFromMs(10_000) },
});

test("a worker whose stream breaks resumes its lease on another replica and keeps its job: no second run", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "resume" });
  const before = openStream(broker.workers, hello("resume"));
  const delivery = await before.next("job");
  before.abort();
  await before.ended;

  // Another worker is waiting: during the grace period it must not get the job.
  const bystander = openStream(broker.workers, { case: "hello", value: { workerId: "b", queues: ["resume"], maxInFlight: 1 } });
  await bystander.next("welcome");

  const after = openStream(replica.workers, hello("resume", [{ jobId: job!.id, leaseToken: delivery.leaseToken }]));
  const welcome = await after.next("welcome");
  expect(welcome.resumed.map((l) => l.jobId)).toEqual([job!.id]);
  const newToken = welcome.resumed[0]!.leaseToken;
  expect(newToken).not.toBe(delivery.leaseToken);

  // The old token is retired; the new one settles the job, which ran once.
  after.send({ case: "ack", value: { jobId: job!.id, leaseToken: delivery.leaseToken } });
  expect((await after.next("settled")).ok).toBe(false);
  after.send({ case: "ack", value: { jobId: job!.id, leaseToken: newToken } });
  expect((await after.next("settled")).ok).toBe(true);
  const finished = (await broker.jobs.getJob({ id: job!.id })).job!;
  expect(finished).toMatchObject({ state: JobState.SUCCEEDED, attempt: 1, errors: [] });
  expect(bystander.received.filter((r) => r.message.case === "job")).toHaveLength(0);
  after.close();
  bystander.close();
});

test("leases not resumed within the grace period are released; without a grace, at once", async () => {
  const graceful = await startTestBroker({ maxResumeGraceMs: 300 }, broker.databaseUrl);
  try {
    const { job } = await graceful.jobs.enqueueJob({ queue: "no-resume" });
    const stream = openStream(graceful.workers, hello("no-resume"));
    await stream.next("job");
    stream.abort();
    await eventually(async () => (await graceful.jobs.getJob({ id: job!.id })).job!.state === JobState.AVAILABLE);
    expect((await graceful.jobs.getJob({ id: job!.id })).job!.lastError).toMatch(/not resumed within 0.3s/);

    const clean = openStream(graceful.workers, { case: "hello", value: { workerId: "w", queues: ["no-resume"], maxInFlight: 1 } });
    await clean.next("job");
    clean.close();
    await eventually(async () => (await graceful.jobs.getJob({ id: job!.id })).job!.state === JobState.AVAILABLE);
    expect((await graceful.jobs.getJob({ id: job!.id })).job!.lastError).toBe("worker stream ended");
  } finally {
    await graceful.stop();
  }
});
