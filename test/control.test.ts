import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { type Worker, runWorker } from "../clients/ts/src/index.js";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

let broker: TestBroker;
let replica: TestBroker;
const workers: Worker[] = [];

beforeAll(async () => {
  broker = await startTestBroker({ broker: { retryPolicy: { baseDelaySeconds: 0.05, maxDelaySeconds: 1 } } });
  replica = await startTestBroker({ broker: { retryPolicy: { baseDelaySeconds: 0.05, maxDelaySeconds: 1 } } }, broker.databaseUrl);
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
});

afterAll(async () => {
  await replica.stop();
  await broker.stop();
});

const state = async (id: string) => (await broker.jobs.getJob({ id })).job!;

test("cancelling a waiting job makes it CANCELLED at once; a finished one is FAILED_PRECONDITION", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "cancel-waiting" });
  const { job: cancelled } = await broker.jobs.cancelJob({ id: job!.id });
  expect(cancelled!.state).toBe(JobState.CANCELLED);
  const again = await broker.jobs.cancelJob({ id: job!.id }).catch((e: unknown) => e);
  expect((again as ConnectError).code).toBe(Code.FailedPrecondition);
  expect((again as ConnectError).rawMessage).toMatch(/already finished \(cancelled\)/);
});

test("a running job's worker, on another replica, receives cancel and its handler's signal aborts", async () => {
  let aborted: unknown;
  const started = new Promise<void>((resolve) => {
    workers.push(
      runWorker({
        baseUrl: replica.baseUrl,
        queues: ["cancel-running"],
        handler: (_job, { signal }) =>
          new Promise((_, reject) => {
            resolve();
            signal.addEventListener("abort", () => {
              aborted = signal.reason;
              reject(signal.reason as Error);
            });
          }),
      }),
    );
  });
  const { job } = await broker.jobs.enqueueJob({ queue: "cancel-running", maxAttempts: 5 });
  await started;
  const { job: marked } = await broker.jobs.cancelJob({ id: job!.id });
  expect(marked).toMatchObject({ state: JobState.LEASED, cancelRequested: true });
  await eventually(async () => (await state(job!.id)).state === JobState.CANCELLED);
  expect(String(aborted)).toMatch(/job cancelled/);
  expect((await state(job!.id)).attempt).toBe(1);
});

test("a cancel request survives the worker's death: the job is not run again", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "cancel-persisted", maxAttempts: 5 });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["cancel-persisted"], maxInFlight: 1 } });
  await stream.next("job");
  await broker.jobs.cancelJob({ id: job!.id });
  expect(await stream.next("cancel")).toMatchObject({ jobId: job!.id });
  stream.close(); // the worker goes away without settling
  await eventually(async () => (await state(job!.id)).state === JobState.CANCELLED);
});

test("an attempt that hangs past its timeout is cancelled, counted as failed, and retried elsewhere", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "hang", timeout: durationFromMs(300), maxAttempts: 3 });
  const hung = openStream(broker.workers, { case: "hello", value: { workerId: "hung", queues: ["hang"], maxInFlight: 1 } });
  expect((await hung.next("job")).job!.id).toBe(job!.id);
  expect(await hung.next("cancel")).toMatchObject({ jobId: job!.id });
  expect(await hung.next("leaseLost")).toMatchObject({ jobId: job!.id });
  const rescuer = openStream(replica.workers, { case: "hello", value: { workerId: "ok", queues: ["hang"], maxInFlight: 1 } });
  const second = await rescuer.next("job");
  expect(second.job).toMatchObject({ id: job!.id, attempt: 2, lastError: "attempt timed out" });
  rescuer.send({ case: "ack", value: { jobId: job!.id, leaseToken: second.leaseToken } });
  expect(await rescuer.next("settled")).toMatchObject({ ok: true });
  hung.close();
  rescuer.close();
});

test("WaitJob returns the result once the job succeeds, and times out otherwise", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "wait" });
  const waits = Array.from({ length: 20 }, (_, i) => (i % 2 ? broker : replica).jobs.waitJob({ id: job!.id, timeout: durationFromMs(30_000) }));
  workers.push(runWorker({ baseUrl: broker.baseUrl, queues: ["wait"], handler: () => "the answer" }));
  for (const response of await Promise.all(waits)) {
    expect(response.timedOut).toBe(false);
    expect(response.job!.state).toBe(JobState.SUCCEEDED);
    expect(new TextDecoder().decode(response.job!.result)).toBe("the answer");
  }
  const { job: idle } = await broker.jobs.enqueueJob({ queue: "nobody-listens" });
  const timedOut = await broker.jobs.waitJob({ id: idle!.id, timeout: durationFromMs(100) });
  expect(timedOut).toMatchObject({ timedOut: true, job: { state: JobState.AVAILABLE } });
});

test("RetryJob revives a dead job with a fresh budget; RetryJobs revives a queue's dead jobs", async () => {
  const { jobs } = await broker.jobs.enqueueJobs({ jobs: [1, 2, 3].map(() => ({ queue: "revive", maxAttempts: 1 })) });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["revive"], maxInFlight: 3 } });
  for (let i = 0; i < 3; i++) {
    const d = await stream.next("job");
    stream.send({ case: "nack", value: { jobId: d.job!.id, leaseToken: d.leaseToken, error: "boom" } });
  }
  stream.close();
  await eventually(async () => (await broker.jobs.listJobs({ queue: "revive", state: JobState.DEAD })).jobs.length === 3);
  const dead = await broker.jobs.listJobs({ queue: "revive", state: JobState.DEAD });
  expect(dead.jobs[0]!.errors.map((e) => e.message)).toEqual(["boom"]);

  const { job: revived } = await broker.jobs.retryJob({ id: jobs[0]!.id });
  expect(revived).toMatchObject({ state: JobState.AVAILABLE, attempt: 0, lastError: "boom" });
  expect((await broker.jobs.retryJobs({ queue: "revive" })).count).toBe(2n);
  const notDead = await broker.jobs.retryJob({ id: jobs[0]!.id }).catch((e: unknown) => e);
  expect((notDead as ConnectError).code).toBe(Code.FailedPrecondition);
});

test("a paused queue delivers nothing, even to a worker on another replica, until resumed", async () => {
  const queues = createClient(QueueService, createGrpcTransport({ baseUrl: broker.baseUrl }));
  await queues.pauseQueue({ queue: "paused" });
  const stream = openStream(replica.workers, { case: "hello", value: { workerId: "w", queues: ["paused", "not-paused"], maxInFlight: 5 } });
  await stream.next("welcome");
  const { job } = await broker.jobs.enqueueJob({ queue: "paused" });
  // The signal that the replica's claims ran after the paused job was waiting: a job of the
  // stream's other queue, enqueued after it, is delivered, and it alone.
  const { job: marker } = await broker.jobs.enqueueJob({ queue: "not-paused" });
  expect((await stream.next("job")).job!.id).toBe(marker!.id);
  expect(stream.received.filter((r) => r.message.case === "job")).toHaveLength(1);
  expect((await queues.getQueue({ queue: "paused" })).queue).toMatchObject({ paused: true, available: 1n });
  await queues.resumeQueue({ queue: "paused" });
  expect((await stream.next("job")).job!.id).toBe(job!.id);
  stream.close();
});

test("ListWorkers shows the streams of every replica", async () => {
  const a = openStream(broker.workers, { case: "hello", value: { workerId: "alpha", queues: ["registry"], maxInFlight: 2 } });
  const b = openStream(replica.workers, { case: "hello", value: { workerId: "beta", queues: ["registry"], maxInFlight: 3 } });
  await Promise.all([a.next("welcome"), b.next("welcome")]);
  await eventually(async () => (await broker.workers.listWorkers({ queue: "registry" })).workers.length === 2);
  const { workers: listed } = await replica.workers.listWorkers({ queue: "registry" });
  expect(listed.map((w) => [w.workerId, w.maxInFlight, w.replica]).sort()).toEqual(
    [
      ["alpha", 2, broker.server.broker.replicaId],
      ["beta", 3, replica.server.broker.replicaId],
    ].sort(),
  );
  a.close();
  await eventually(async () => (await broker.workers.listWorkers({ queue: "registry" })).workers.length === 1);
  b.close();
});

test("a job enqueued by baton.enqueue runs only if its transaction commits", async () => {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["from-sql"], maxInFlight: 5 } });
  await stream.next("welcome");
  await sql(broker.databaseUrl, "begin; select baton.enqueue('from-sql', convert_to('rolled back', 'utf8')); rollback;");
  const [{ id }] = (await sql<{ id: string }>(
    broker.databaseUrl,
    "select baton.enqueue('from-sql', convert_to('committed', 'utf8'), '{\"source\":\"sql\"}') as id",
  )) as [{ id: string }];
  const delivery = await stream.next("job");
  expect(delivery.job!.id).toBe(id);
  expect(new TextDecoder().decode(delivery.job!.payload)).toBe("committed");
  expect(delivery.job!.headers).toMatchObject({ source: "sql" });
  const rows = await sql(broker.databaseUrl, "select 1 from baton.jobs where queue = 'from-sql'");
  expect(rows).toHaveLength(1);
  stream.close();
});

test("baton.enqueue takes a fairness_key and worker_labels: the job reaches only a matching worker", async () => {
  const hello = (workerId: string, gpu: string) => ({ case: "hello" as const, value: { workerId, queues: ["from-sql-labels"], maxInFlight: 5, labels: { gpu } } });
  const other = openStream(broker.workers, hello("t4", "t4"));
  await other.next("welcome");
  const [{ id }] = (await sql<{ id: string }>(
    broker.databaseUrl,
    `select baton.enqueue('from-sql-labels', fairness_key => 'tenant-7', worker_labels => '{"gpu": "a100"}') as id`,
  )) as [{ id: string }];
  // The stream that does not match takes the job enqueued after it, and never this one.
  const [{ id: unlabelled }] = (await sql<{ id: string }>(broker.databaseUrl, "select baton.enqueue('from-sql-labels') as id")) as [{ id: string }];
  expect((await other.next("job")).job!.id).toBe(unlabelled);
  const matching = openStream(broker.workers, hello("a100", "a100"));
  await matching.next("welcome");
  expect((await matching.next("job")).job!.id).toBe(id);
  expect(await state(id)).toMatchObject({ fairnessKey: "tenant-7", workerLabels: { gpu: "a100" } });
  other.close();
  matching.close();
});

test("baton.enqueue refuses worker_labels the broker would refuse, naming the constraint", async () => {
  for (const labels of ['[1]', '{"has space": "x"}', '{"gpu": 1}', `{"gpu": "${"x".repeat(64)}"}`, JSON.stringify(Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])))]) {
    const error = await sql(broker.databaseUrl, "select baton.enqueue('from-sql-bad', worker_labels => $1)", [labels]).catch((e: unknown) => e);
    expect((error as { constraint?: string }).constraint, labels).toBe("worker_labels_valid");
    expect((error as Error).message, labels).toMatch(/^baton\.enqueue: worker_labels must be an object of at most 16 labels/);
  }
  expect(await sql(broker.databaseUrl, "select 1 from baton.jobs where queue = 'from-sql-bad'")).toHaveLength(0);
});
