import { fromBinary } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { generateTokenSecret, hashTokenSecret } from "../src/server/api-tokens.js";
import { createDatabase } from "../src/store/database.js";
import { type NewToken, tokenCreate } from "../src/store/tokens.js";
import { type TestBroker, bearerTransport, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { expectError } from "./helpers/errors.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

/**
 * Limits: header sizes, queue depth, and what one API token may use (request rate, open
 * streams, jobs in flight), each refused with its code and a message that names the limit;
 * and the names and sizes the database itself refuses.
 */

let open: TestBroker;
let guarded: TestBroker;

beforeAll(async () => {
  open = await startTestBroker({ maxHeaders: 3, maxHeaderBytes: 64, maxQueueDepth: 3 });
  const auth = loadConfig({ BATON_AUTH: "on", BATON_TOKEN_RATE_LIMIT: "0", BATON_TOKEN_MAX_STREAMS: "2", BATON_TOKEN_MAX_QUEUES: "5" }).auth;
  guarded = await startTestBroker({ auth });
});

afterAll(async () => {
  await guarded?.stop();
  await open?.stop();
});

/** The retry_delay of an encoded google.rpc.RetryInfo, in milliseconds. */
function retryDelayMs(bytes: Uint8Array): number {
  const reader = new BinaryReader(bytes);
  const [field] = reader.tag();
  expect(field).toBe(1);
  const delay = fromBinary(DurationSchema, reader.bytes());
  return Number(delay.seconds) * 1000 + delay.nanos / 1e6;
}

async function streamError(stream: TestStream): Promise<ConnectError> {
  const error = await stream.ended;
  expect(error).toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

describe("headers", () => {
  test("more headers than BATON_MAX_HEADERS is INVALID_ARGUMENT", async () => {
    await expectError(
      open.jobs.enqueueJob({ queue: "h", headers: { a: "1", b: "2", c: "3", d: "4" } }),
      Code.InvalidArgument,
      /^headers has 4 entries; the limit is 3 \(BATON_MAX_HEADERS\)$/,
    );
  });

  test("headers over BATON_MAX_HEADER_BYTES (names and values, UTF-8) are INVALID_ARGUMENT, named in a batch", async () => {
    await expectError(
      open.jobs.enqueueJobs({ jobs: [{ queue: "h" }, { queue: "h", headers: { trace: "é".repeat(30) } }] }),
      Code.InvalidArgument,
      /^jobs\[1\]\.headers take 65 bytes \(names and values, UTF-8\); the limit is 64 \(BATON_MAX_HEADER_BYTES\)$/,
    );
    await expectError(open.jobs.enqueueJob({ queue: "h", headers: { "": "x" } }), Code.InvalidArgument, /headers has an empty name/);
    const { job } = await open.jobs.enqueueJob({ queue: "h", headers: { a: "1", b: "2", c: "x".repeat(58) } });
    expect(job!.headers).toEqual({ a: "1", b: "2", c: "x".repeat(58) });
  });

  test("a continuation over the header limit is refused in its settled reply, and the stream stays open", async () => {
    const stream = openStream(open.workers, { case: "hello", value: { workerId: "w", queues: ["chain"], maxInFlight: 1 } });
    await stream.next("welcome");
    const { job } = await open.jobs.enqueueJob({ queue: "chain" });
    const delivery = await stream.next("job");
    stream.send({
      case: "ack",
      value: { jobId: job!.id, leaseToken: delivery.leaseToken, continueWith: [{ queue: "chain", headers: { a: "1", b: "2", c: "3", d: "4" } }] },
    });
    const settled = await stream.next("settled");
    expect(settled.ok).toBe(false);
    expect(settled.error).toMatch(/ack\.continue_with\[0\]\.headers has 4 entries; the limit is 3/);
    stream.close();
    await stream.ended;
  });
});

describe("queue depth", () => {
  test("an enqueue past BATON_MAX_QUEUE_DEPTH is RESOURCE_EXHAUSTED; a batch counts all its jobs", async () => {
    await open.jobs.enqueueJobs({ jobs: [{ queue: "deep" }, { queue: "deep" }] });
    await expectError(
      open.jobs.enqueueJobs({ jobs: [{ queue: "deep" }, { queue: "deep" }] }),
      Code.ResourceExhausted,
      /^queue "deep" has 2 jobs waiting; 2 more would exceed its limit of 3 \(BATON_MAX_QUEUE_DEPTH\)$/,
    );
    const { job } = await open.jobs.enqueueJob({ queue: "deep" });
    await expectError(open.jobs.enqueueJob({ queue: "deep" }), Code.ResourceExhausted, /queue "deep" has 3 or more jobs waiting; one more would exceed/);
    // Other queues are unaffected; a job that leaves the waiting states makes room.
    await open.jobs.enqueueJob({ queue: "shallow" });
    await open.jobs.cancelJob({ id: job!.id });
    await open.jobs.enqueueJob({ queue: "deep" });
  });
});

describe("names", () => {
  test("a worker id over 256 bytes (UTF-8) is INVALID_ARGUMENT", async () => {
    const stream = openStream(open.workers, { case: "hello", value: { workerId: "w".repeat(257), queues: ["q"], maxInFlight: 1 } });
    const error = await streamError(stream);
    expect(Code[error.code]).toBe("InvalidArgument");
    expect(error.rawMessage).toMatch(/hello\.worker_id is 257 bytes \(UTF-8\); the limit is 256/);
  });

  test("the database refuses malformed names and sizes too (CHECK constraints)", async () => {
    const refused = async (text: string, values: unknown[], constraint: string) => {
      const error = await sql(open.databaseUrl, text, values).catch((e: unknown) => e);
      expect((error as { constraint?: string }).constraint).toBe(constraint);
    };
    const secret = hashTokenSecret(generateTokenSecret());
    const token = "insert into baton.api_tokens (name, role, queues, secret_sha256) values ($1, $2, $3, $4)";
    await refused(token, ["ops", "root", ["*"], secret], "api_token_role_valid");
    await refused(token, ["ops", "admin", ["emails.*", "bad queue"], secret], "api_token_queues_valid");
    await refused(token, ["ops", "admin", [], secret], "api_token_queues_valid");
    await refused(token, ["has space", "admin", ["*"], secret], "api_token_name_valid");
    await refused(token, ["ops", "admin", ["*"], Buffer.from("plaintext-secret")], "api_token_secret_is_sha256");
    await refused("select baton.enqueue('bad queue!')", [], "queue_name_valid");
    await refused("select baton.enqueue('q', headers => '[1]')", [], "headers_is_object");
    await refused("select baton.enqueue('q', dedup_key => repeat('k', 513))", [], "dedup_key_length");
  });
});

describe("per-token limits", () => {
  let db: ReturnType<typeof createDatabase>;

  beforeAll(() => {
    db = createDatabase({ url: guarded.databaseUrl, maxConnections: 1 });
  });

  afterAll(async () => {
    await db.close();
  });

  async function tokenClients(token: Omit<NewToken, "secretSha256" | "name">) {
    const secret = generateTokenSecret();
    const record = await tokenCreate(db, { name: "limited", ...token, secretSha256: hashTokenSecret(secret) });
    const transport = bearerTransport(guarded.baseUrl, secret);
    return { id: record.id, jobs: createClient(JobService, transport), workers: createClient(WorkerService, transport) };
  }

  const hello = (workers: Client<typeof WorkerService>, maxInFlight: number, queues = ["work"]) =>
    openStream(workers, { case: "hello", value: { workerId: "w", queues, maxInFlight } });

  test("requests beyond the token's rate are RESOURCE_EXHAUSTED and say when to retry, in words and as RetryInfo", async () => {
    const { id, jobs } = await tokenClients({ role: "producer", queues: ["*"], rateLimit: 1 });
    await jobs.enqueueJob({ queue: "rated" });
    const refused = jobs.enqueueJob({ queue: "rated" });
    await expectError(
      refused,
      Code.ResourceExhausted,
      new RegExp(`^token ${id} \\("limited"\\) is over its rate limit of 1 requests per second on this broker replica; retry in \\d+ ms$`),
    );
    const error = (await refused.catch((e: unknown) => e)) as ConnectError;
    const waitMs = Number(/retry in (\d+) ms$/.exec(error.rawMessage)![1]);
    const details = error.details.filter((detail) => !("desc" in detail) && detail.type === "google.rpc.RetryInfo");
    expect(details).toHaveLength(1);
    expect(retryDelayMs((details[0] as { value: Uint8Array }).value)).toBe(waitMs);
  });

  test("streams beyond the token's cap are RESOURCE_EXHAUSTED; closing one makes room", async () => {
    const { id, workers } = await tokenClients({ role: "worker", queues: ["*"], maxStreams: 1 });
    const first = hello(workers, 1);
    await first.next("welcome");
    const error = await streamError(hello(workers, 1));
    expect(Code[error.code]).toBe("ResourceExhausted");
    expect(error.rawMessage).toMatch(new RegExp(`^token ${id} \\("limited"\\) already has 1 open streams on this broker replica; the limit is 1$`));
    first.close();
    await first.ended;
    await eventually(async () => {
      const next = hello(workers, 1);
      const ok = await Promise.race([next.next("welcome").then(() => true), next.ended.then(() => false)]);
      next.close();
      await next.ended;
      return ok;
    }, { intervalMs: 50 });
  });

  test("the broker's default stream cap applies to tokens without their own (BATON_TOKEN_MAX_STREAMS)", async () => {
    const { workers } = await tokenClients({ role: "worker", queues: ["*"] });
    const streams = [hello(workers, 1), hello(workers, 1)];
    await Promise.all(streams.map((s) => s.next("welcome")));
    const error = await streamError(hello(workers, 1));
    expect(error.rawMessage).toMatch(/already has 2 open streams on this broker replica; the limit is 2$/);
    for (const stream of streams) stream.close();
    await Promise.all(streams.map((s) => s.ended));
  });

  test("max_in_flight beyond the token's budget is RESOURCE_EXHAUSTED; what fits is admitted", async () => {
    const { id, workers } = await tokenClients({ role: "worker", queues: ["*"], maxInFlight: 10 });
    const a = hello(workers, 6);
    await a.next("welcome");
    const error = await streamError(hello(workers, 5));
    expect(Code[error.code]).toBe("ResourceExhausted");
    expect(error.rawMessage).toMatch(
      new RegExp(`^hello\\.max_in_flight 5 would bring the jobs in flight of token ${id} \\("limited"\\) on this broker replica to 11; the limit is 10$`),
    );
    const b = hello(workers, 4);
    await b.next("welcome");
    for (const stream of [a, b]) stream.close();
    await Promise.all([a.ended, b.ended]);
  });

  test("a hello over BATON_MAX_QUEUES_PER_STREAM is INVALID_ARGUMENT for that cap, whatever the token's budget", async () => {
    const { workers } = await tokenClients({ role: "worker", queues: ["*"] });
    const many = Array.from({ length: 101 }, (_, i) => `many-${i}`);
    const error = await streamError(hello(workers, 1, many));
    expect([Code[error.code], error.rawMessage]).toEqual([
      "InvalidArgument",
      "hello.queues names 101 queues; the limit is 100 (BATON_MAX_QUEUES_PER_STREAM)",
    ]);
  });

  test("queues beyond the token's BATON_TOKEN_MAX_QUEUES, over all its streams, are RESOURCE_EXHAUSTED; a closed stream gives its back", async () => {
    const { id, workers } = await tokenClients({ role: "worker", queues: ["*"] });
    const a = hello(workers, 1, ["q1", "q2", "q3"]);
    await a.next("welcome");
    const error = await streamError(hello(workers, 1, ["q4", "q5", "q6"]));
    expect(Code[error.code]).toBe("ResourceExhausted");
    expect(error.rawMessage).toBe(
      `hello.queues (3) would bring the queues subscribed by token ${id} ("limited") on this broker replica to 6; the limit is 5 (BATON_TOKEN_MAX_QUEUES)`,
    );
    a.close();
    await a.ended;
    // The broker releases the closed stream's queues when it sees the call end.
    await eventually(async () => {
      const next = hello(workers, 1, ["q4", "q5", "q6", "q7", "q8"]);
      const ok = await Promise.race([next.next("welcome").then(() => true), next.ended.then(() => false)]);
      next.close();
      await next.ended;
      return ok;
    }, { intervalMs: 50, what: "a closed stream's queues to be given back to the token" });
  });
});
