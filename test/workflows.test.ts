import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type BatonClient, type Job, JobState, createClient, runWorker } from "../clients/ts/src/index.js";
import type { JobResult } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startReplicas, stopAll } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";

/**
 * Workflows that pass results: a DAG enqueued in one EnqueueJobs (depends_on_index), each job's
 * delivery carrying its blockers' results, WaitJob{chain} returning every job of it. Two
 * replicas share the database: blockers settle on one, dependants run on the other. The brokers
 * cap each delivery's blocker results at 100 bytes and each page of jobs at one job (BATON_MAX_PAGE_BYTES),
 * so that the caps and the paging are exercised on small data.
 */
const RESULT_CAP = 100;
let broker: TestBroker;
let replica: TestBroker;
let client: BatonClient;
let replicaClient: BatonClient;

beforeAll(async () => {
  [broker, replica] = (await startReplicas(2, { maxPageBytes: 1, broker: { maxDependsOnResultBytes: RESULT_CAP } })) as [TestBroker, TestBroker];
  client = createClient({ baseUrl: broker.baseUrl });
  replicaClient = createClient({ baseUrl: replica.baseUrl });
});

afterAll(async () => {
  client.close();
  replicaClient.close();
  await stopAll([broker, replica]);
});

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString();

test("a root, three parallel children and a fan-in in one enqueueMany: the fan-in handler, on the other replica, sees all three results", async () => {
  const results = await client.enqueueMany([
    { queue: "dag-root", payload: "order-1" },
    { queue: "dag-child", payload: "charge", dependsOnIndex: [0] },
    { queue: "dag-child", payload: "pack", dependsOnIndex: [0] },
    { queue: "dag-child", payload: "label", dependsOnIndex: [0] },
    { queue: "dag-fan-in", payload: "ship", dependsOnIndex: [1, 2, 3] },
  ]);
  const [root, ...rest] = results.map((r) => r.job);
  const children = rest.slice(0, 3);
  const fanIn = rest[3]!;
  // One chain, rooted at the root; each job waits for the ids its positions named.
  expect(results.map((r) => r.job.chainId)).toEqual(Array(5).fill(root!.id));
  expect(children.map((c) => c.dependsOn)).toEqual([[root!.id], [root!.id], [root!.id]]);
  expect(fanIn.dependsOn).toEqual(children.map((c) => c.id));
  expect(rest.map((j) => j.state)).toEqual(Array(4).fill(JobState.BLOCKED));

  const workers = [
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["dag-root", "dag-child"],
      handler: (job, context) => {
        if (job.queue === "dag-root") return `${text(job.payload)} ok`;
        const [parent] = context.dependsOnResults;
        return `${text(job.payload)} after ${text(parent!.result)}`;
      },
    }),
  ];
  let seen: JobResult[] | undefined;
  workers.push(
    runWorker({
      baseUrl: replica.baseUrl,
      queues: ["dag-fan-in"],
      handler: (job, context) => {
        seen = context.dependsOnResults;
        return context.dependsOnResults.map((r) => text(r.result)).join(" | ");
      },
    }),
  );
  try {
    const chain = await replicaClient.waitChain(root!.id);
    // Newest first, as ListJobs lists a chain; one job per page here, so paged to the end.
    expect(chain.map((job) => job.id)).toEqual([fanIn.id, ...children.map((c) => c.id).reverse(), root!.id]);
    expect(chain.every((job) => job.state === JobState.SUCCEEDED)).toBe(true);
    expect(seen!.map((r) => ({ jobId: r.jobId, omitted: r.omitted }))).toEqual(children.map((c) => ({ jobId: c.id, omitted: false })));
    expect(text(chain[0]!.result)).toBe("charge after order-1 ok | pack after order-1 ok | label after order-1 ok");
    // One trace for the DAG, as for any chain.
    expect(await sql(broker.databaseUrl, "select distinct trace_id from baton.jobs where chain_id = $1", [root!.id])).toHaveLength(1);
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});

test("DAGs enqueued at once through both replicas, run by workers on both: every fan-in sees all its children's results", async () => {
  const queues = ["many-root", "many-child", "many-fan-in"];
  const handler = (job: Job, context: { dependsOnResults: JobResult[] }) =>
    job.queue === "many-fan-in" ? context.dependsOnResults.map((r) => text(r.result)).join(",") : `${text(job.payload)}`;
  const workers = [broker, replica, broker, replica].map((b) => runWorker({ baseUrl: b.baseUrl, queues, concurrency: 4, handler }));
  try {
    const dags = await Promise.all(
      Array.from({ length: 20 }, (_, n) =>
        (n % 2 === 0 ? client : replicaClient).enqueueMany([
          { queue: "many-root", payload: `r${n}` },
          ...["a", "b", "c"].map((child) => ({ queue: "many-child", payload: `${child}${n}`, dependsOnIndex: [0] })),
          { queue: "many-fan-in", dependsOnIndex: [1, 2, 3] },
        ]),
      ),
    );
    const fanIns = await Promise.all(dags.map((dag) => client.waitJob(dag[4]!.job.id)));
    expect(fanIns.map((job) => text(job.result))).toEqual(dags.map((_, n) => `a${n},b${n},c${n}`));
  } finally {
    await Promise.all(workers.map((w) => w.stop()));
  }
});

/** Takes the next delivery of a one-job stream and acks it with `result`. */
async function ackNext(stream: TestStream, result: string): Promise<Job> {
  const delivery = await stream.next("job");
  stream.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken, result: Buffer.from(result) } });
  expect(await stream.next("settled")).toMatchObject({ jobId: delivery.job!.id, ok: true });
  stream.send({ case: "credit", value: { n: 1 } });
  return delivery.job!;
}

test("depends_on and depends_on_index combine; results come in depends_on order, those past the byte cap omitted, in full and lean deliveries", async () => {
  const { job: earlier } = await broker.jobs.enqueueJob({ queue: "mix-blocker" });
  const blockers = openStream(broker.workers, { case: "hello", value: { workerId: "b", queues: ["mix-blocker"], maxInFlight: 1 } });
  await ackNext(blockers, "e");
  const dependant = { dependsOn: [earlier!.id], dependsOnIndex: [0, 1] };
  const { jobs } = await broker.jobs.enqueueJobs({
    jobs: [{ queue: "mix-blocker" }, { queue: "mix-blocker" }, { queue: "mix-full", ...dependant }, { queue: "mix-lean", ...dependant }],
  });
  const [first, second] = jobs;
  expect(jobs[2]!.dependsOn).toEqual([earlier!.id, first!.id, second!.id]);
  // 1 + 90 bytes fit the cap of 100; the next 10 bytes would pass it.
  await ackNext(blockers, "x".repeat(90));
  await ackNext(blockers, "0123456789");
  blockers.close();

  const want = [
    { jobId: earlier!.id, result: "e", omitted: false },
    { jobId: first!.id, result: "x".repeat(90), omitted: false },
    { jobId: second!.id, result: "", omitted: true },
  ];
  const full = openStream(replica.workers, { case: "hello", value: { workerId: "f", queues: ["mix-full"], maxInFlight: 1 } });
  const lean = openStream(replica.workers, {
    case: "hello",
    value: { workerId: "l", queues: ["mix-lean"], maxInFlight: 1, batch: true, leanJobs: true },
  });
  try {
    const fullDelivery = await full.next("job");
    expect(fullDelivery.job!.id).toBe(jobs[2]!.id);
    expect(fullDelivery.dependsOnResults.map((r) => ({ jobId: r.jobId, result: text(r.result), omitted: r.omitted }))).toEqual(want);
    const [leanDelivery] = (await lean.next("jobs")).deliveries;
    expect(leanDelivery!.job!.id).toBe(jobs[3]!.id);
    expect(leanDelivery!.dependsOnResults.map((r) => ({ jobId: r.jobId, result: text(r.result), omitted: r.omitted }))).toEqual(want);
  } finally {
    full.close();
    lean.close();
  }
});

test("a position whose job a dedup_key resolved to an existing one waits for that job, and joins its chain", async () => {
  const { job: holder } = await broker.jobs.enqueueJob({ queue: "dedup-dag", dedupKey: "k" });
  const { jobs, deduplicated } = await broker.jobs.enqueueJobs({
    jobs: [{ queue: "dedup-dag", dedupKey: "k" }, { queue: "dedup-dag-next", dependsOnIndex: [0] }],
  });
  expect(deduplicated).toEqual([true, false]);
  expect(jobs[1]).toMatchObject({ state: JobState.BLOCKED, dependsOn: [holder!.id], chainId: holder!.chainId });
});

test("a blocker that already succeeded does not block its dependant, which still gets its result", async () => {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["done-blocker", "done-dependant"], maxInFlight: 1 } });
  const { job: done } = await broker.jobs.enqueueJob({ queue: "done-blocker" });
  await ackNext(stream, "done");
  const { job: dependant } = await broker.jobs.enqueueJob({ queue: "done-dependant", dependsOn: [done!.id] });
  expect(dependant!.state).not.toBe(JobState.BLOCKED);
  const delivery = await stream.next("job");
  expect(delivery.job!.id).toBe(dependant!.id);
  expect(delivery.dependsOnResults.map((r) => [r.jobId, text(r.result)])).toEqual([[done!.id, "done"]]);
  stream.close();
});

test("WaitJob{chain} returns when every job of the DAG finished, with the chain's jobs and a page token for the rest", async () => {
  const { jobs } = await broker.jobs.enqueueJobs({
    jobs: [{ queue: "wait-dag" }, { queue: "wait-dag", dependsOnIndex: [0] }, { queue: "wait-dag", dependsOnIndex: [0] }],
  });
  const root = jobs[0]!;
  // Asked about a child, it waits for the whole chain too.
  const early = await replica.jobs.waitJob({ id: jobs[2]!.id, chain: true, timeout: durationFromMs(0) });
  expect(early.timedOut).toBe(true);
  expect(early.chainJobs.map((j) => j.id)).toEqual([jobs[2]!.id]);

  const waiting = replica.jobs.waitJob({ id: jobs[1]!.id, chain: true, timeout: durationFromMs(60_000) });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["wait-dag"], maxInFlight: 1 } });
  for (let i = 0; i < 3; i++) await ackNext(stream, `r${i}`);
  stream.close();
  const waited = await waiting;
  expect(waited.timedOut).toBe(false);
  expect(waited.job!.id).toBe(jobs[1]!.id);
  // One job per page here (BATON_MAX_PAGE_BYTES): the token pages through ListJobs.
  expect(waited.chainJobs.map((j) => j.state)).toEqual([JobState.SUCCEEDED]);
  const next = await broker.jobs.listJobs({ filter: { chainId: root.id }, pageToken: waited.chainNextPageToken });
  expect(next.jobs.map((j) => j.id)).toEqual([jobs[1]!.id]);
  // A job waited for without chain answers without the chain's jobs.
  const single = await broker.jobs.waitJob({ id: root.id });
  expect(single.chainJobs).toEqual([]);
});

test("the results of blockers that no longer exist are omitted", async () => {
  const { job } = await broker.jobs.enqueueJob({ queue: "gone-blocker" });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["gone-blocker"], maxInFlight: 1 } });
  await ackNext(stream, "kept");
  stream.close();
  const missing = "9223372036854775807";
  const [row] = await sql<{ results: (Buffer | null)[] }>(broker.databaseUrl, "select baton.depends_on_results($1::bigint[], 100) as results", [
    [job!.id, missing],
  ]);
  expect(row!.results.map((r) => r && r.toString())).toEqual(["kept", null]);
});

test("depends_on_index is refused in continue_with: positions mean something only in one EnqueueJobs", async () => {
  await broker.jobs.enqueueJob({ queue: "continue-dag" });
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["continue-dag"], maxInFlight: 1 } });
  const delivery = await stream.next("job");
  stream.send({
    case: "ack",
    value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken, continueWith: [{ queue: "continue-dag-next", dependsOnIndex: [0] }] },
  });
  const settled = await stream.next("settled");
  expect(settled.ok).toBe(false);
  expect(settled.error).toMatch(/ack\.continue_with\[0\]\.depends_on_index is only allowed in EnqueueJobs/);
  stream.close();
});
