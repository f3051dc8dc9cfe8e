import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { generateTokenSecret, hashTokenSecret } from "../src/server/api-tokens.js";
import { createDatabase } from "../src/store/database.js";
import type { TokenRole } from "../src/store/token-role.js";
import { tokenCreate } from "../src/store/tokens.js";
import { type TestBroker, bearerTransport, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";
import { expectError, refusal } from "./helpers/errors.js";

/**
 * Tenant isolation: a token limited to some queues can neither reach nor learn of the jobs and
 * workers of other queues through the ids a request names (chain_id, depends_on, the job of
 * Get/Cancel/Retry/Wait, resumed leases, continuations) or through ListWorkers. A job it may
 * not see is answered exactly as a job that does not exist.
 */

let broker: TestBroker;
let db: ReturnType<typeof createDatabase>;
let admin: Clients;
let producerA: Clients;
let workerA: Clients;
let workerB: Clients;
const UNKNOWN = "987654321";

interface Clients {
  jobs: Client<typeof JobService>;
  workers: Client<typeof WorkerService>;
}

async function tokenClients(role: TokenRole, queues: string[]): Promise<Clients> {
  const secret = generateTokenSecret();
  await tokenCreate(db, { name: role, role, queues, secretSha256: hashTokenSecret(secret) });
  const transport = bearerTransport(broker.baseUrl, secret);
  return { jobs: createClient(JobService, transport), workers: createClient(WorkerService, transport) };
}

beforeAll(async () => {
  broker = await startTestBroker({ auth: loadConfig({ BATON_AUTH: "on" }).auth });
  db = createDatabase({ url: broker.databaseUrl, maxConnections: 1 });
  admin = await tokenClients("admin", ["*"]);
  producerA = await tokenClients("producer", ["a*"]);
  workerA = await tokenClients("worker", ["a*"]);
  workerB = await tokenClients("worker", ["b*"]);
});

afterAll(async () => {
  await db?.close();
  await broker?.stop();
});

/** The call fails with NOT_FOUND and the same message as the same call naming an unknown job. */
async function expectUnknown(call: (id: string) => Promise<unknown>, hiddenId: string, message: (id: string) => string) {
  const hidden = await refusal(call(hiddenId));
  const unknown = await refusal(call(UNKNOWN));
  expect([Code[hidden.code], hidden.rawMessage]).toEqual(["NotFound", message(hiddenId)]);
  expect([Code[unknown.code], unknown.rawMessage]).toEqual(["NotFound", message(UNKNOWN)]);
}

describe("ids a producer names", () => {
  test("chain_id: a job cannot join a chain of another tenant's queue (nor make its WaitJob{chain} wait)", async () => {
    const { job: root } = await admin.jobs.enqueueJob({ queue: "b1" });
    await expectUnknown((id) => producerA.jobs.enqueueJob({ queue: "a1", chainId: id }), root!.id, (id) => `chain_id names job ${id}, which does not exist`);
    await expectUnknown(
      (id) => producerA.jobs.enqueueJobs({ jobs: [{ queue: "a1" }, { queue: "a2", chainId: id }] }),
      root!.id,
      (id) => `jobs[1].chain_id names job ${id}, which does not exist`,
    );
    expect(await sql(broker.databaseUrl, "select id from baton.jobs where chain_id = $1 and id <> $1", [root!.id])).toEqual([]);
    // Its own chains it may join.
    const { job: own } = await producerA.jobs.enqueueJob({ queue: "a1" });
    const { job: next } = await producerA.jobs.enqueueJob({ queue: "a2", chainId: own!.id });
    expect(next!.chainId).toBe(own!.id);
  });

  test("WaitJob{chain} lists only the jobs of a chain on the token's queues", async () => {
    const { jobs } = await admin.jobs.enqueueJobs({
      jobs: [{ queue: "a-dag" }, { queue: "b-dag", dependsOnIndex: [0] }, { queue: "a-dag", dependsOnIndex: [0] }],
    });
    const waited = await producerA.jobs.waitJob({ id: jobs[0]!.id, chain: true, timeout: { seconds: 0n } });
    expect(waited.chainJobs.map((job) => job.id)).toEqual([jobs[2]!.id, jobs[0]!.id]);
  });

  test("depends_on: whether another tenant's job exists, or failed, does not show", async () => {
    const { job: pending } = await admin.jobs.enqueueJob({ queue: "b1" });
    const { job: cancelled } = await admin.jobs.enqueueJob({ queue: "b1" });
    await admin.jobs.cancelJob({ id: cancelled!.id });
    for (const hidden of [pending!, cancelled!]) {
      await expectUnknown(
        (id) => producerA.jobs.enqueueJob({ queue: "a1", dependsOn: [id] }),
        hidden.id,
        (id) => `depends_on[0] names job ${id}, which does not exist`,
      );
    }
    const { job: mine } = await producerA.jobs.enqueueJob({ queue: "a1" });
    await expectUnknown(
      (id) => producerA.jobs.enqueueJobs({ jobs: [{ queue: "a2", dependsOn: [mine!.id, id] }] }),
      pending!.id,
      (id) => `jobs[0].depends_on[1] names job ${id}, which does not exist`,
    );
    const { job: blocked } = await producerA.jobs.enqueueJob({ queue: "a2", dependsOn: [mine!.id] });
    expect(blocked!.dependsOn).toEqual([mine!.id]);
    expect(await sql(broker.databaseUrl, "select 1 from baton.job_dependencies where blocker_id = any($1::bigint[])", [[pending!.id, cancelled!.id]])).toEqual([]);
  });

  test("Get, Cancel, Retry and Wait on another tenant's job answer as for an unknown job, and change nothing", async () => {
    const { job } = await admin.jobs.enqueueJob({ queue: "b1" });
    const { job: dead } = await admin.jobs.enqueueJob({ queue: "b1" });
    await admin.jobs.cancelJob({ id: dead!.id });
    const notFound = (id: string) => `job ${id} not found`;
    await expectUnknown((id) => producerA.jobs.getJob({ id }), job!.id, notFound);
    await expectUnknown((id) => producerA.jobs.cancelJob({ id }), job!.id, notFound);
    await expectUnknown((id) => producerA.jobs.retryJob({ id }), dead!.id, notFound);
    await expectUnknown((id) => producerA.jobs.waitJob({ id, timeout: { seconds: 0n } }), job!.id, notFound);
    await expectUnknown((id) => producerA.jobs.waitJob({ id, chain: true, timeout: { seconds: 0n } }), job!.id, notFound);
    const states = await sql<{ state: string }>(broker.databaseUrl, "select state from baton.jobs where id = any($1::bigint[]) order by id", [[job!.id, dead!.id]]);
    expect(states.map((row) => row.state)).toEqual(["available", "cancelled"]);
  });
});

describe("workers", () => {
  test("ListWorkers shows only the workers, and queues, the token may see", async () => {
    const a = openStream(workerA.workers, { case: "hello", value: { workerId: "worker-a", queues: ["a-list"], maxInFlight: 1 } });
    const b = openStream(workerB.workers, { case: "hello", value: { workerId: "worker-b", queues: ["b-list"], maxInFlight: 1 } });
    const both = openStream(admin.workers, { case: "hello", value: { workerId: "worker-ab", queues: ["a-list", "b-list"], maxInFlight: 1 } });
    await Promise.all([a.next("welcome"), b.next("welcome"), both.next("welcome")]);
    const listed = async (clients: Clients) =>
      (await clients.workers.listWorkers({})).workers
        .filter((w) => w.workerId.startsWith("worker-"))
        .map((w) => `${w.workerId}:${w.queues.join(",")}`)
        .sort();
    await eventually(async () => (await listed(admin)).length === 3, { what: "the three workers to be registered" });
    expect(await listed(admin)).toEqual(["worker-a:a-list", "worker-ab:a-list,b-list", "worker-b:b-list"]);
    expect(await listed(workerA)).toEqual(["worker-a:a-list", "worker-ab:a-list"]);
    expect(await listed(workerB)).toEqual(["worker-ab:b-list", "worker-b:b-list"]);
    for (const stream of [a, b, both]) stream.close();
  });

  test("a continuation cannot join another tenant's chain", async () => {
    const { job: root } = await admin.jobs.enqueueJob({ queue: "b1" });
    const stream = openStream(workerA.workers, { case: "hello", value: { workerId: "w", queues: ["a-cont"], maxInFlight: 1 } });
    await stream.next("welcome");
    const { job } = await admin.jobs.enqueueJob({ queue: "a-cont" });
    const delivery = await stream.next("job");
    stream.send({ case: "ack", value: { jobId: job!.id, leaseToken: delivery.leaseToken, continueWith: [{ queue: "a-next", chainId: root!.id }] } });
    const error = (await stream.ended) as ConnectError;
    expect([Code[error.code], error.rawMessage]).toEqual(["NotFound", `ack.continue_with[0].chain_id names job ${root!.id}, which does not exist`]);
    expect(await sql(broker.databaseUrl, "select id from baton.jobs where chain_id = $1 and id <> $1", [root!.id])).toEqual([]);
  });

  test("a hello cannot resume (adopt) a lease of another tenant's job", async () => {
    const holder = openStream(workerB.workers, { case: "hello", value: { workerId: "holder", queues: ["b-resume"], maxInFlight: 1 } });
    await holder.next("welcome");
    const { job } = await admin.jobs.enqueueJob({ queue: "b-resume" });
    const delivery = await holder.next("job");
    const thief = openStream(workerA.workers, {
      case: "hello",
      value: { workerId: "thief", queues: ["a-resume"], maxInFlight: 1, resume: [{ jobId: job!.id, leaseToken: delivery.leaseToken }] },
    });
    expect((await thief.next("welcome")).resumed).toEqual([]);
    const [row] = await sql<{ lease_token: string }>(broker.databaseUrl, "select lease_token::text from baton.jobs where id = $1", [job!.id]);
    expect(row!.lease_token).toBe(delivery.leaseToken);
    holder.send({ case: "ack", value: { jobId: job!.id, leaseToken: delivery.leaseToken } });
    expect((await holder.next("settled")).ok).toBe(true);
    thief.close();
    holder.close();
  });
});

test("a viewer of some queues reads their history, and neither another queue's nor every queue's together", async () => {
  const secret = generateTokenSecret();
  await tokenCreate(db, { name: "viewer-a", role: "viewer", queues: ["a*"], secretSha256: hashTokenSecret(secret) });
  const queues = createClient(QueueService, bearerTransport(broker.baseUrl, secret));
  expect((await queues.getQueueHistory({ queue: "a-history" })).points).toHaveLength(60);
  await expectError(queues.getQueueHistory({ queue: "b-history" }), Code.PermissionDenied, /b-history/);
  await expectError(queues.getQueueHistory({}), Code.PermissionDenied, /queue/);
});
