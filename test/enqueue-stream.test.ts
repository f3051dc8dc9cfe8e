/**
 * EnqueueJobsStream: batches over one stream, each one transaction answered under its
 * request_id; a refused batch is answered with its error, changes nothing and leaves the
 * stream open; a token's limits apply per batch; a broker that shuts down answers what it
 * read and ends the stream cleanly. And the TypeScript client, which sends its enqueues this way.
 */
import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { type Client, Code, ConnectError, createClient as createRpcClient } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import http2 from "node:http2";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createClient } from "../clients/ts/src/index.js";
import { loadConfig } from "../src/config.js";
import {
  type EnqueueJobRequestSchema,
  type EnqueueJobsStreamRequest,
  EnqueueJobsStreamRequestSchema,
  type EnqueueJobsStreamResponse,
  JobView,
} from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { generateTokenSecret, hashTokenSecret } from "../src/server/api-tokens.js";
import { createDatabase } from "../src/store/database.js";
import { type NewToken, tokenCreate } from "../src/store/tokens.js";
import { AsyncQueue } from "../src/util/async-queue.js";
import { type TestBroker, bearerTransport, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ maxBatchSize: 5 });
});

afterAll(async () => {
  await broker?.stop();
});

type Batch = { jobs: MessageInitShape<typeof EnqueueJobRequestSchema>[]; view?: JobView };

/** A raw EnqueueJobsStream: send() resolves with the answer that carries its request_id. */
function rawStream(jobs: Client<typeof JobService>) {
  const requests = new AsyncQueue<EnqueueJobsStreamRequest>();
  const waiting = new Map<bigint, { resolve(response: EnqueueJobsStreamResponse): void; reject(error: unknown): void }>();
  const answered: bigint[] = [];
  let nextId = 100n;
  const ended: Promise<unknown> = (async () => {
    let failure: unknown;
    try {
      for await (const response of jobs.enqueueJobsStream(requests)) {
        answered.push(response.requestId);
        waiting.get(response.requestId)?.resolve(response);
        waiting.delete(response.requestId);
      }
    } catch (error) {
      failure = error;
    }
    for (const { reject } of waiting.values()) reject(failure ?? new Error("the stream ended without answering"));
    return failure;
  })();
  return {
    send(batch: Batch): Promise<EnqueueJobsStreamResponse> {
      const requestId = nextId++;
      const answer = new Promise<EnqueueJobsStreamResponse>((resolve, reject) => waiting.set(requestId, { resolve, reject }));
      requests.push(create(EnqueueJobsStreamRequestSchema, { ...batch, requestId }));
      return answer;
    },
    /** Request ids in the order their answers came. */
    answered,
    close: () => requests.end(),
    ended,
  };
}

async function countJobs(url: string, queue: string): Promise<number> {
  const [row] = await sql<{ n: number }>(url, "select count(*)::int as n from baton.jobs where queue = $1", [queue]);
  return row!.n;
}

describe("EnqueueJobsStream", () => {
  test("answers each batch under its request_id, with ids or whole jobs as the batch's view asks", async () => {
    const stream = rawStream(broker.jobs);
    const ids = await stream.send({ jobs: [{ queue: "s-view" }, { queue: "s-view", payload: Buffer.from("x") }], view: JobView.ID });
    expect(ids.requestId).toBe(100n);
    expect(ids.error).toBeUndefined();
    expect(ids.jobIds).toHaveLength(2);
    expect(ids.jobs).toEqual([]);
    expect(ids.deduplicated).toEqual([false, false]);
    const full = await stream.send({ jobs: [{ queue: "s-view", dedupKey: "k" }] });
    expect(full.requestId).toBe(101n);
    expect(full.jobs).toHaveLength(1);
    expect(full.jobs[0]).toMatchObject({ queue: "s-view", dedupKey: "k" });
    const again = await stream.send({ jobs: [{ queue: "s-view", dedupKey: "k" }], view: JobView.ID });
    expect(again.deduplicated).toEqual([true]);
    expect(again.jobIds).toEqual([full.jobs[0]!.id]);
    expect(await countJobs(broker.databaseUrl, "s-view")).toBe(3);
    stream.close();
    expect(await stream.ended).toBeUndefined();
  });

  test("many batches in flight at once are all answered, each in its own transaction", async () => {
    const stream = rawStream(broker.jobs);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => stream.send({ jobs: [{ queue: "s-many", payload: Buffer.from(String(i)) }], view: JobView.ID })),
    );
    expect(answers.every((answer) => answer.error === undefined && answer.jobIds.length === 1)).toBe(true);
    expect(new Set(answers.map((answer) => answer.jobIds[0])).size).toBe(40);
    expect(new Set(stream.answered).size).toBe(40);
    expect(await countJobs(broker.databaseUrl, "s-many")).toBe(40);
    stream.close();
    await stream.ended;
  });

  test("a bad batch is refused alone, with EnqueueJobs' error, creates nothing, and the stream stays open", async () => {
    const stream = rawStream(broker.jobs);
    const refusals = await Promise.all([
      stream.send({ jobs: [] }),
      stream.send({ jobs: [{ queue: "s-bad" }, { queue: "not a queue!" }] }),
      stream.send({ jobs: Array.from({ length: 6 }, () => ({ queue: "s-bad" })) }),
      stream.send({ jobs: [{ queue: "s-bad", dependsOn: ["12345678"] }] }),
    ]);
    expect(refusals.map((r) => [Code[r.error?.code ?? 0], r.jobIds.length, r.jobs.length])).toEqual([
      ["InvalidArgument", 0, 0],
      ["InvalidArgument", 0, 0],
      ["InvalidArgument", 0, 0],
      ["InvalidArgument", 0, 0],
    ]);
    expect(refusals[0].error!.message).toBe("jobs must not be empty");
    expect(refusals[1].error!.message).toMatch(/^jobs\[1\]\.queue /);
    expect(refusals[2].error!.message).toBe("jobs has 6 entries; the limit is 5 (BATON_MAX_BATCH_SIZE)");
    expect(refusals[3].error!.message).toMatch(/names job 12345678, which does not exist$/);
    expect(await countJobs(broker.databaseUrl, "s-bad")).toBe(0);
    const fine = await stream.send({ jobs: [{ queue: "s-bad" }], view: JobView.ID });
    expect(fine.error).toBeUndefined();
    expect(await countJobs(broker.databaseUrl, "s-bad")).toBe(1);
    stream.close();
    expect(await stream.ended).toBeUndefined();
  });

  test("each batch pays BATON_MAX_QUEUE_DEPTH, refused alone when it would overfill its queue", async () => {
    const own = await startTestBroker({ maxQueueDepth: 3 });
    try {
      const stream = rawStream(own.jobs);
      expect((await stream.send({ jobs: [{ queue: "s-deep" }, { queue: "s-deep" }] })).error).toBeUndefined();
      const over = await stream.send({ jobs: [{ queue: "s-deep" }, { queue: "s-deep" }] });
      expect(Code[over.error!.code]).toBe("ResourceExhausted");
      expect(over.error!.message).toBe('queue "s-deep" has 2 jobs waiting; 2 more would exceed its limit of 3 (BATON_MAX_QUEUE_DEPTH)');
      expect((await stream.send({ jobs: [{ queue: "s-deep" }] })).error).toBeUndefined();
      expect(await countJobs(own.databaseUrl, "s-deep")).toBe(3);
      stream.close();
      await stream.ended;
    } finally {
      await own.stop();
    }
  });

  test("a broker that shuts down answers the batches it read, then ends the stream cleanly", async () => {
    const own = await startTestBroker();
    const stream = rawStream(own.jobs);
    const before = await stream.send({ jobs: [{ queue: "s-stop" }], view: JobView.ID });
    expect(before.error).toBeUndefined();
    const stopped = own.stop();
    expect(await stream.ended).toBeUndefined();
    await stopped;
    expect(await countJobs(own.databaseUrl, "s-stop")).toBe(1);
  });
});

describe("EnqueueJobsStream with API tokens", () => {
  let guarded: TestBroker;
  let db: ReturnType<typeof createDatabase>;

  beforeAll(async () => {
    const auth = loadConfig({ BATON_AUTH: "on", BATON_TOKEN_RATE_LIMIT: "0" }).auth;
    guarded = await startTestBroker({ auth });
    db = createDatabase({ url: guarded.databaseUrl, maxConnections: 1 });
  });

  afterAll(async () => {
    await db?.close();
    await guarded?.stop();
  });

  async function producer(token: Omit<NewToken, "secretSha256" | "name">) {
    const secret = generateTokenSecret();
    const record = await tokenCreate(db, { name: "streamer", ...token, secretSha256: hashTokenSecret(secret) });
    return { id: record.id, jobs: createRpcClient(JobService, bearerTransport(guarded.baseUrl, secret)) };
  }

  test("each batch is checked against the token's queues and the jobs it may see; the stream stays open", async () => {
    const { id, jobs } = await producer({ role: "producer", queues: ["mine-*"] });
    const [other] = await sql<{ id: string }>(guarded.databaseUrl, "select baton.enqueue('theirs')::text as id");
    const stream = rawStream(jobs);
    const [outside, hidden, inside] = await Promise.all([
      stream.send({ jobs: [{ queue: "mine-a" }, { queue: "theirs" }] }),
      stream.send({ jobs: [{ queue: "mine-a", dependsOn: [other!.id] }] }),
      stream.send({ jobs: [{ queue: "mine-a" }], view: JobView.ID }),
    ]);
    expect(Code[outside.error!.code]).toBe("PermissionDenied");
    expect(outside.error!.message).toBe(`jobs[1].queue "theirs" is outside the queues of token ${id} ("streamer"): mine-*`);
    expect(Code[hidden.error!.code]).toBe("NotFound");
    expect(hidden.error!.message).toBe(`jobs[0].depends_on[0] names job ${other!.id}, which does not exist`);
    expect(inside.error).toBeUndefined();
    expect(await countJobs(guarded.databaseUrl, "mine-a")).toBe(1);
    stream.close();
    expect(await stream.ended).toBeUndefined();
  });

  test("each batch counts against the token's request rate", async () => {
    const { id, jobs } = await producer({ role: "producer", queues: ["*"], rateLimit: 1 });
    const stream = rawStream(jobs);
    // Opening the stream took the one request of this second: the first batch is over the rate.
    const answer = await stream.send({ jobs: [{ queue: "rated-stream" }] });
    expect(Code[answer.error!.code]).toBe("ResourceExhausted");
    expect(answer.error!.message).toMatch(new RegExp(`^token ${id} \\("streamer"\\) is over its rate limit of 1 requests per second`));
    expect(await countJobs(guarded.databaseUrl, "rated-stream")).toBe(0);
    stream.close();
    await stream.ended;
  });

  test("a worker token may not open it", async () => {
    const { jobs } = await producer({ role: "worker", queues: ["*"] });
    const stream = rawStream(jobs);
    const error = await stream.ended;
    expect(error).toBeInstanceOf(ConnectError);
    expect(Code[(error as ConnectError).code]).toBe("PermissionDenied");
    expect((error as ConnectError).rawMessage).toMatch(/EnqueueJobsStream needs the role producer or admin$/);
  });
});

describe("the TypeScript client's enqueues", () => {
  test("go over one stream: concurrent calls each get their own answer, and a refused one fails alone", async () => {
    const client = createClient({ baseUrl: broker.baseUrl });
    try {
      const results = await Promise.all(Array.from({ length: 25 }, (_, i) => client.enqueue("c-stream", { i })));
      expect(new Set(results.map((r) => r.job.id)).size).toBe(25);
      expect(results.map((r) => JSON.parse(Buffer.from(r.job.payload).toString()) as { i: number }).map((p) => p.i)).toEqual(
        Array.from({ length: 25 }, (_, i) => i),
      );
      const refused = client.enqueue("no such queue!", {});
      const fine = client.enqueueManyIds([{ queue: "c-stream" }, { queue: "c-stream" }]);
      const error = await refused.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConnectError);
      expect(Code[(error as ConnectError).code]).toBe("InvalidArgument");
      expect((error as ConnectError).rawMessage).toMatch(/^jobs\[0\]\.queue /);
      expect(await fine).toHaveLength(2);
      expect(await countJobs(broker.databaseUrl, "c-stream")).toBe(27);
    } finally {
      client.close();
    }
  });

  test("fall back to EnqueueJobs calls against a broker without the stream", async () => {
    // An older broker: JobService with EnqueueJobs only, each call passed on to a real broker.
    const server = http2.createServer(
      connectNodeAdapter({ routes: (router) => router.service(JobService, { enqueueJobs: (request) => broker.jobs.enqueueJobs(request) }) }),
    );
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on("session", (session) => sessions.add(session));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const client = createClient({ baseUrl: `http://127.0.0.1:${port}` });
    try {
      const [first, second] = await Promise.all([client.enqueue("c-old", "first"), client.enqueueManyIds([{ queue: "c-old" }])]);
      expect(first.job.queue).toBe("c-old");
      expect(second).toHaveLength(1);
      const third = await client.enqueue("c-old", "third");
      expect(third.job.queue).toBe("c-old");
      expect(await countJobs(broker.databaseUrl, "c-old")).toBe(3);
    } finally {
      client.close();
      for (const session of sessions) session.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
