import { type Client, Code, type ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { type TestBroker, startReplicas, stopAll } from "./helpers/broker.js";
import { expectError } from "./helpers/errors.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

/**
 * Worker labels: a job's worker_labels route it to the streams whose hello.labels contain all
 * of them, on whichever replica; an unlabelled job goes to any stream; a labelled job that no
 * stream matches stays AVAILABLE until one connects. Two replicas on one database.
 */
let a: TestBroker;
let b: TestBroker;
const streams: TestStream[] = [];

beforeAll(async () => {
  [a, b] = (await startReplicas(2)) as [TestBroker, TestBroker];
});

afterAll(async () => {
  for (const stream of streams) stream.close();
  await stopAll([a, b]);
});

/** A welcomed stream on `broker` taking jobs of `queue`, with these labels. */
async function worker(broker: TestBroker, queue: string, labels: Record<string, string>, maxInFlight = 10): Promise<TestStream> {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: JSON.stringify(labels), queues: [queue], maxInFlight, labels } });
  streams.push(stream);
  await stream.next("welcome");
  return stream;
}

/** Ids of the jobs delivered to the stream so far. */
const deliveredTo = (stream: TestStream) => stream.received.flatMap((r) => (r.message.case === "job" ? [r.message.value.job!.id] : []));

test("a labelled job reaches only the streams whose labels contain its worker_labels, on either replica", async () => {
  const plain = await worker(a, "route", {});
  const t4 = await worker(a, "route", { gpu: "t4" });
  const a100 = await worker(b, "route", { gpu: "a100", region: "eu" });
  const enqueue = (workerLabels: Record<string, string>, n: number) =>
    a.jobs.enqueueJobs({ jobs: Array.from({ length: n }, () => ({ queue: "route", workerLabels })) });
  const forA100 = (await enqueue({ gpu: "a100" }, 3)).jobs.map((job) => job.id);
  const forA100InEu = (await enqueue({ gpu: "a100", region: "eu" }, 2)).jobs.map((job) => job.id);
  const forT4 = (await enqueue({ gpu: "t4" }, 3)).jobs.map((job) => job.id);
  const forAny = (await enqueue({}, 9)).jobs.map((job) => job.id);
  expect((await a.jobs.getJob({ id: forA100InEu[0]! })).job!.workerLabels).toEqual({ gpu: "a100", region: "eu" });

  // Every job is delivered once, and none of them is settled: a job a wrong stream took would
  // still be held by it.
  const all = [...forA100, ...forA100InEu, ...forT4, ...forAny];
  await eventually(() => [plain, t4, a100].flatMap(deliveredTo).length === all.length, { what: "every job delivered" });
  expect(deliveredTo(a100)).toEqual(expect.arrayContaining([...forA100, ...forA100InEu]));
  expect(deliveredTo(t4)).toEqual(expect.arrayContaining(forT4));
  expect(deliveredTo(plain).every((id) => forAny.includes(id))).toBe(true);
  expect(deliveredTo(t4).filter((id) => !forT4.includes(id)).every((id) => forAny.includes(id))).toBe(true);
});

test("an unlabelled job goes to a stream with labels", async () => {
  const labelled = await worker(b, "any", { gpu: "a100" });
  const { job } = await a.jobs.enqueueJob({ queue: "any" });
  expect((await labelled.next("job")).job!.id).toBe(job!.id);
});

test("a labelled job no stream matches stays AVAILABLE, past streams with credit, until a matching stream connects to another replica", async () => {
  // Both streams have credit throughout, the plain one on the replica the jobs are enqueued
  // through (where a hand-off could lease a new job to it at insert).
  const plain = await worker(a, "wait", {});
  const t4 = await worker(b, "wait", { gpu: "t4" }, 1);
  const { job: waiting } = await a.jobs.enqueueJob({ queue: "wait", workerLabels: { gpu: "a100" } });
  expect(waiting!.state).toBe(JobState.AVAILABLE);
  // Jobs enqueued after it, behind it in claim order, reach each of the other streams: their
  // claims ran with it waiting ahead of them. The t4 stream's one credit goes first, so the
  // unlabelled job can only go to the plain stream.
  const { job: forT4 } = await a.jobs.enqueueJob({ queue: "wait", workerLabels: { gpu: "t4" } });
  expect((await t4.next("job")).job!.id).toBe(forT4!.id);
  const { job: forAny } = await a.jobs.enqueueJob({ queue: "wait" });
  expect((await plain.next("job")).job!.id).toBe(forAny!.id);
  expect((await b.jobs.getJob({ id: waiting!.id })).job!.state).toBe(JobState.AVAILABLE);

  const a100 = await worker(b, "wait", { gpu: "a100", vram: "80g" });
  expect((await a100.next("job")).job!.id).toBe(waiting!.id);
  expect([...deliveredTo(plain), ...deliveredTo(t4)]).not.toContain(waiting!.id);
});

test("a waiting stream is handed only the new jobs its labels match", async () => {
  const plain = await worker(a, "handoff", {});
  const labelled = await worker(a, "handoff", { gpu: "a100" });
  // A job enqueued for a waiting stream of this replica is leased at insert; keep enqueueing
  // until that happens, so that both streams' groups are drained.
  for (let handedOff = false; !handedOff; ) {
    const { job } = await a.jobs.enqueueJob({ queue: "handoff", workerLabels: { gpu: "a100" } });
    expect((await labelled.next("job")).job!.id).toBe(job!.id);
    handedOff = job!.state === JobState.LEASED;
  }
  const { job: other } = await a.jobs.enqueueJob({ queue: "handoff", workerLabels: { gpu: "t4" } });
  expect(other!.state).toBe(JobState.AVAILABLE);
  const { job: forAny } = await a.jobs.enqueueJob({ queue: "handoff" });
  const taker = await Promise.race([plain.next("job").then((d) => d.job!.id), labelled.next("job").then((d) => d.job!.id)]);
  expect(taker).toBe(forAny!.id);
  expect([...deliveredTo(plain), ...deliveredTo(labelled)]).not.toContain(other!.id);
});

test("on a queue with a concurrency limit, labelled jobs go only to matching streams too", async () => {
  const queues: Client<typeof QueueService> = createClient(QueueService, createGrpcTransport({ baseUrl: a.baseUrl }));
  await queues.updateQueue({ queue: "limited-labels", config: { concurrencyLimit: 5 } });
  const plain = await worker(a, "limited-labels", {});
  const { job: labelled } = await a.jobs.enqueueJob({ queue: "limited-labels", workerLabels: { gpu: "a100" } });
  const { job: forAny } = await a.jobs.enqueueJob({ queue: "limited-labels" });
  expect((await plain.next("job")).job!.id).toBe(forAny!.id);
  const a100 = await worker(b, "limited-labels", { gpu: "a100" });
  expect((await a100.next("job")).job!.id).toBe(labelled!.id);
  expect(deliveredTo(plain)).not.toContain(labelled!.id);
});

test("a continuation keeps to its worker_labels; bad ones refuse that ack alone", async () => {
  const plain = await worker(a, "steps", {});
  const { jobs } = await a.jobs.enqueueJobs({ jobs: [{ queue: "steps", maxAttempts: 1 }, { queue: "steps" }] });
  const deliveries = [await plain.next("job"), await plain.next("job")];
  const lease = (i: number) => ({ jobId: jobs[i]!.id, leaseToken: deliveries.find((d) => d.job!.id === jobs[i]!.id)!.leaseToken });
  plain.send({ case: "ack", value: { ...lease(0), continueWith: [{ queue: "steps", workerLabels: { "bad key": "x" } }] } });
  plain.send({ case: "ack", value: { ...lease(1), continueWith: [{ queue: "steps", workerLabels: { gpu: "a100" } }] } });
  const settled = [await plain.next("settled"), await plain.next("settled")];
  expect(settled.find((s) => s.jobId === jobs[0]!.id)).toMatchObject({
    ok: false,
    error: expect.stringMatching(/^ack\.continue_with\[0\]\.worker_labels\["bad key"\]: the key is invalid/) as unknown,
  });
  expect(settled.find((s) => s.jobId === jobs[1]!.id)).toMatchObject({ ok: true });
  const a100 = await worker(b, "steps", { gpu: "a100" });
  const next = (await a100.next("job")).job!;
  expect(next).toMatchObject({ parentId: jobs[1]!.id, workerLabels: { gpu: "a100" } });
  expect(deliveredTo(plain)).not.toContain(next.id);
});

test("ListWorkers shows each stream's labels, whichever replica holds it", async () => {
  await worker(b, "listed", { gpu: "a100", "example.com/zone": "eu-1" });
  await eventually(async () => (await a.workers.listWorkers({ queue: "listed" })).workers.length === 1, { what: "the stream registered" });
  const [listed] = (await a.workers.listWorkers({ queue: "listed" })).workers;
  expect(listed!.labels).toEqual({ gpu: "a100", "example.com/zone": "eu-1" });
});

test("bad labels in hello end the stream with INVALID_ARGUMENT naming the label", async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ "": "x" }, /^hello\.labels has an empty key$/],
    [{ "has space": "x" }, /^hello\.labels\["has space"\]: the key is invalid: use 1-63 letters/],
    [{ ["k".repeat(64)]: "x" }, /^hello\.labels\["k{64}"\]: the key is invalid/],
    [{ "Example.com/gpu": "x" }, /^hello\.labels\["Example\.com\/gpu"\]: the key is invalid/],
    [{ gpu: "a\0" }, /^hello\.labels\["gpu"\] contains a NUL byte$/],
    [{ gpu: "é".repeat(32) }, /^hello\.labels\["gpu"\] is 64 bytes \(UTF-8\); the limit is 63$/],
    [Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"])), /^hello\.labels has 17 entries; the limit is 16$/],
  ];
  for (const [labels, message] of cases) {
    const stream = openStream(a.workers, { case: "hello", value: { workerId: "w", queues: ["q"], maxInFlight: 1, labels } });
    const error = (await stream.ended) as ConnectError;
    expect(Code[error.code]).toBe("InvalidArgument");
    expect(error.rawMessage).toMatch(message);
  }
});

test("bad worker_labels are INVALID_ARGUMENT naming the label, and a batch with one is refused whole", async () => {
  await expectError(a.jobs.enqueueJob({ queue: "bad", workerLabels: { "a/b/c": "x" } }), Code.InvalidArgument, /^worker_labels\["a\/b\/c"\]: the key is invalid/);
  await expectError(a.jobs.enqueueJob({ queue: "bad", workerLabels: { gpu: "v".repeat(64) } }), Code.InvalidArgument, /^worker_labels\["gpu"\] is 64 bytes/);
  await expectError(
    a.jobs.enqueueJobs({ jobs: [{ queue: "bad" }, { queue: "bad", workerLabels: { "-gpu": "x" } }] }),
    Code.InvalidArgument,
    /^jobs\[1\]\.worker_labels\["-gpu"\]: the key is invalid/,
  );
  expect((await a.jobs.listJobs({ queue: "bad" })).jobs).toEqual([]);
});
