import { type DescMethodStreaming, type DescMethodUnary, create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import { type Client, Code, ConnectError, type Interceptor, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createAsyncIterable } from "@connectrpc/connect/protocol";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connectServices, createClient as createBatonClient, runWorker } from "../clients/ts/src/index.js";
import { loadConfig } from "../src/config.js";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { TokenRole, TokenService } from "../clients/ts/src/gen/baton/v1/token_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { expectError } from "./helpers/errors.js";
import { type CompletedRun, type TestProcess, killAll, runTs, spawnTs } from "./helpers/process.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

/**
 * Authentication and authorization with auth on: tokens made by the real `baton tokens`
 * commands (against the database, as an operator bootstraps them), used over gRPC.
 */

let broker: TestBroker;
const processes: TestProcess[] = [];

interface CreatedToken {
  id: string;
  secret: string;
  name: string;
}

interface Clients {
  jobs: Client<typeof JobService>;
  workers: Client<typeof WorkerService>;
  queues: Client<typeof QueueService>;
  schedules: Client<typeof ScheduleService>;
  tokens: Client<typeof TokenService>;
  health: Client<typeof Health>;
}

let producer: CreatedToken;
let worker: CreatedToken;
let admin: CreatedToken;
let viewer: CreatedToken;

beforeAll(async () => {
  // A short cache, so the periodic re-check of open streams runs within a test.
  broker = await startTestBroker({ auth: loadConfig({ BATON_AUTH: "on", BATON_AUTH_CACHE_SECONDS: "0.5" }).auth });
  [producer, worker, admin, viewer] = await Promise.all([
    createToken(["--role", "producer", "--queues", "emails.*", "--name", "shop"]),
    createToken(["--role", "worker", "--queues", "emails.*,reports", "--name", "mailer"]),
    createToken(["--role", "admin", "--queues", "*", "--name", "ops"]),
    createToken(["--role", "viewer", "--queues", "*", "--name", "dashboard"]),
  ]);
});

afterAll(async () => {
  await killAll(processes);
  await broker?.stop();
});

function tokens(args: string[]): Promise<CompletedRun> {
  return runTs("src/cli/main.ts", { BATON_DATABASE_URL: broker.databaseUrl, DATABASE_URL: undefined }, ["tokens", ...args], processes);
}

async function createToken(args: string[]): Promise<CreatedToken> {
  const run = await tokens(["create", ...args, "--json"]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  const created = JSON.parse(run.stdout) as CreatedToken;
  expect(created.secret).toMatch(/^baton_[A-Za-z0-9_-]{43}$/);
  return created;
}

function clients(authorization?: string): Clients {
  const setHeader: Interceptor = (next) => (req) => {
    if (authorization !== undefined) req.header.set("authorization", authorization);
    return next(req);
  };
  const transport = createGrpcTransport({ baseUrl: broker.baseUrl, interceptors: [setHeader] });
  return {
    jobs: createClient(JobService, transport),
    workers: createClient(WorkerService, transport),
    queues: createClient(QueueService, transport),
    schedules: createClient(ScheduleService, transport),
    tokens: createClient(TokenService, transport),
    health: createClient(Health, transport),
  };
}

const as = (token: CreatedToken) => clients(`Bearer ${token.secret}`);

describe("authentication", () => {
  test("a request without a token is UNAUTHENTICATED and says how to send one", async () => {
    await expectError(clients().jobs.enqueueJob({ queue: "emails.welcome" }), Code.Unauthenticated, /missing API token.*authorization: Bearer <token>/);
    await expectError(clients().queues.listQueues({}), Code.Unauthenticated, /missing API token/);
  });

  test("an unknown token and a malformed header are UNAUTHENTICATED", async () => {
    await expectError(clients(`Bearer baton_${"x".repeat(43)}`).jobs.getJob({ id: "1" }), Code.Unauthenticated, /^unknown API token$/);
    await expectError(clients(`Basic ${producer.secret}`).jobs.getJob({ id: "1" }), Code.Unauthenticated, /malformed authorization header/);
  });

  test("health checks and /healthz need no token (probes have none)", async () => {
    const { status } = await clients().health.check({});
    expect(status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await fetch(`${broker.baseUrl}/healthz`)).status).toBe(200);
  });

  test("tokens are stored hashed: the table holds the SHA-256 of the secret, never the secret", async () => {
    const rows = await sql<{ id: string; secret_sha256: Buffer; everything: string }>(
      broker.databaseUrl,
      "select id::text, secret_sha256, t::text as everything from baton.api_tokens t order by id",
    );
    const secrets = [producer, worker, admin].map((t) => t.secret);
    for (const row of rows) {
      for (const secret of secrets) {
        expect(row.everything).not.toContain(secret);
        expect(row.everything).not.toContain(secret.slice("baton_".length));
      }
    }
    const row = rows.find((r) => r.id === producer.id)!;
    expect(row.secret_sha256.equals(createHash("sha256").update(producer.secret).digest())).toBe(true);
  });

  test("baton tokens list shows every token without its secret", async () => {
    const run = await tokens(["list"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/ID\s+NAME\s+ROLE\s+QUEUES/);
    expect(run.stdout).toMatch(new RegExp(`${producer.id}\\s+shop\\s+producer\\s+emails\\.\\*`));
    expect(run.stdout).toMatch(/mailer\s+worker\s+emails\.\*,reports/);
    expect(run.stdout).not.toContain("baton_");
  });

  test("baton tokens create refuses a bad role or pattern, and needs a database URL", async () => {
    const badRole = await tokens(["create", "--role", "root", "--queues", "*"]);
    expect(badRole.code).toBe(2);
    expect(badRole.stderr).toMatch(/--role must be one of producer, worker, admin, viewer, got "root"/);
    const badPattern = await tokens(["create", "--role", "worker", "--queues", "emails/*"]);
    expect(badPattern.code).toBe(2);
    expect(badPattern.stderr).toMatch(/queue pattern "emails\/\*" is invalid/);
    const child = spawnTs("src/cli/main.ts", { BATON_DATABASE_URL: undefined, DATABASE_URL: undefined }, ["tokens", "list"]);
    processes.push(child);
    let stderr = "";
    child.child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    expect(await child.exited).toBe(2);
    expect(stderr).toMatch(/set BATON_DATABASE_URL or --database-url/);
  });
});

describe("authorization", () => {
  test("a producer enqueues to its queues, and not outside its pattern (PERMISSION_DENIED)", async () => {
    const { job } = await as(producer).jobs.enqueueJob({ queue: "emails.welcome" });
    expect(job!.queue).toBe("emails.welcome");
    await expectError(
      as(producer).jobs.enqueueJob({ queue: "billing" }),
      Code.PermissionDenied,
      new RegExp(`queue "billing" is outside the queues of token ${producer.id} \\("shop"\\): emails\\.\\*`),
    );
    // The pattern needs the dot: "emails" itself is not "emails.*".
    await expectError(as(producer).jobs.enqueueJob({ queue: "emails" }), Code.PermissionDenied, /queue "emails" is outside/);
    await expectError(
      as(producer).jobs.enqueueJobs({ jobs: [{ queue: "emails.a" }, { queue: "billing" }] }),
      Code.PermissionDenied,
      /jobs\[1\]\.queue "billing" is outside/,
    );
    expect(await sql(broker.databaseUrl, "select 1 from baton.jobs where queue = 'billing'")).toHaveLength(0);
  });

  test("a malformed queue name is still INVALID_ARGUMENT, not a question of access", async () => {
    await expectError(as(producer).jobs.enqueueJob({ queue: "no spaces!" }), Code.InvalidArgument, /queue "no spaces!" is invalid/);
  });

  test("a worker token cannot enqueue, even to its own queues (PERMISSION_DENIED)", async () => {
    await expectError(
      as(worker).jobs.enqueueJob({ queue: "emails.welcome" }),
      Code.PermissionDenied,
      new RegExp(`token ${worker.id} \\("mailer"\\) has the role worker; baton\\.v1\\.JobService/EnqueueJob needs the role producer or admin`),
    );
  });

  test("id-based calls on a job outside the token's queues are NOT_FOUND, as for a job that does not exist", async () => {
    const { job: billing } = await as(admin).jobs.enqueueJob({ queue: "billing" });
    const jobs = as(producer).jobs;
    for (const call of [
      () => jobs.getJob({ id: billing!.id }),
      () => jobs.cancelJob({ id: billing!.id }),
      () => jobs.retryJob({ id: billing!.id }),
      () => jobs.deleteJob({ id: billing!.id }),
      () => jobs.waitJob({ id: billing!.id, timeout: { seconds: 0n } }),
    ]) {
      await expectError(call(), Code.NotFound, new RegExp(`^job ${billing!.id} not found$`));
    }
    expect((await as(admin).jobs.getJob({ id: billing!.id })).job!.state).toBe(JobState.AVAILABLE);
    const { job: mine } = await as(producer).jobs.enqueueJob({ queue: "emails.receipts" });
    expect((await as(producer).jobs.getJob({ id: mine!.id })).job!.queue).toBe("emails.receipts");
    // An unknown id is the handler's answer, as without auth.
    await expectError(as(producer).jobs.getJob({ id: "987654321" }), Code.NotFound, /job 987654321 not found/);
  });

  test("listing every queue needs the pattern '*'; a queue filter inside the pattern is fine", async () => {
    await expectError(as(producer).jobs.listJobs({}), Code.PermissionDenied, /ListJobs spans every queue.*needs the pattern "\*" \(or set queue\)/);
    const { jobs } = await as(producer).jobs.listJobs({ queue: "emails.welcome" });
    expect(jobs.length).toBeGreaterThan(0);
    expect((await as(admin).jobs.listJobs({})).jobs.length).toBeGreaterThan(0);
  });

  test("bulk operations by filter are for admins, on their queues: a filter without a queue needs the pattern '*'", async () => {
    const emailsAdmin = await createToken(["--role", "admin", "--queues", "emails.*", "--name", "emails-ops"]);
    const { job: billing } = await as(admin).jobs.enqueueJob({ queue: "billing", headers: { bulk: "auth" } });
    await expectError(
      as(producer).jobs.cancelJobs({ filter: { queue: "emails.welcome" } }),
      Code.PermissionDenied,
      /JobService\/CancelJobs needs the role admin/,
    );
    await expectError(as(producer).jobs.listJobs({ filter: { headers: { bulk: "auth" } } }), Code.PermissionDenied, /ListJobs spans every queue/);
    expect((await as(producer).jobs.listJobs({ filter: { queue: "emails.welcome", headers: { bulk: "auth" } } })).jobs).toEqual([]);
    for (const call of [
      () => as(emailsAdmin).jobs.cancelJobs({ filter: { headers: { bulk: "auth" } } }),
      () => as(emailsAdmin).jobs.deleteJobs({ filter: { ids: [billing!.id] } }),
      () => as(emailsAdmin).jobs.retryJobs({ filter: { states: [JobState.DEAD] } }),
    ]) {
      await expectError(call(), Code.PermissionDenied, /Jobs spans every queue.*needs the pattern "\*" \(or set filter\.queue\)/);
    }
    await expectError(as(emailsAdmin).jobs.deleteJobs({ filter: { queue: "billing" } }), Code.PermissionDenied, /filter\.queue "billing" is outside the queues/);
    expect(await as(emailsAdmin).jobs.deleteJobs({ filter: { queue: "emails.welcome", headers: { bulk: "auth" } } })).toMatchObject({ count: 0n });
    expect(await as(admin).jobs.cancelJobs({ filter: { headers: { bulk: "auth" } } })).toMatchObject({ cancelled: 1n });
  });

  test("queue and schedule administration is for admins", async () => {
    await expectError(as(producer).queues.pauseQueue({ queue: "emails.welcome" }), Code.PermissionDenied, /QueueService\/PauseQueue needs the role admin/);
    await expectError(as(worker).schedules.listSchedules({}), Code.PermissionDenied, /needs the role viewer or admin/);
    await expectError(as(producer).jobs.retryJobs({ queue: "emails.welcome" }), Code.PermissionDenied, /RetryJobs needs the role admin/);
    await as(admin).queues.pauseQueue({ queue: "emails.paused" });
    expect((await as(admin).queues.getQueue({ queue: "emails.paused" })).queue!.paused).toBe(true);
    await as(admin).schedules.createSchedule({ schedule: { name: "nightly", queue: "reports", cron: "0 3 * * *" } });
    expect((await as(admin).schedules.listSchedules({})).schedules.map((s) => s.name)).toContain("nightly");
    for (const call of [
      () => as(producer).schedules.triggerSchedule({ name: "nightly" }),
      () => as(producer).schedules.pauseSchedule({ name: "nightly" }),
      () => as(worker).schedules.resumeSchedule({ name: "nightly" }),
      () => as(producer).schedules.updateSchedule({ schedule: { name: "nightly", queue: "emails.x", cron: "0 3 * * *" } }),
    ]) {
      await expectError(call(), Code.PermissionDenied, /ScheduleService\/\w+Schedule needs the role admin/);
    }
  });

  test("schedule control stays inside an admin token's queues: the schedule's queue, and the queue an update moves it to", async () => {
    const reportsAdmin = await createToken(["--role", "admin", "--queues", "reports.*", "--name", "reports-admin"]);
    await as(admin).schedules.createSchedule({ schedule: { name: "billing-nightly", queue: "billing", cron: "0 3 * * *" } });
    await as(admin).schedules.createSchedule({ schedule: { name: "reports-nightly", queue: "reports.daily", cron: "0 3 * * *" } });
    for (const call of [
      () => as(reportsAdmin).schedules.pauseSchedule({ name: "billing-nightly" }),
      () => as(reportsAdmin).schedules.resumeSchedule({ name: "billing-nightly" }),
      () => as(reportsAdmin).schedules.triggerSchedule({ name: "billing-nightly" }),
      () => as(reportsAdmin).schedules.updateSchedule({ schedule: { name: "billing-nightly", queue: "reports.daily", cron: "0 3 * * *" } }),
    ]) {
      await expectError(call(), Code.PermissionDenied, /schedule "billing-nightly"'s queue "billing" is outside the queues of token/);
    }
    await expectError(
      as(reportsAdmin).schedules.updateSchedule({ schedule: { name: "reports-nightly", queue: "billing", cron: "0 3 * * *" } }),
      Code.PermissionDenied,
      /schedule\.queue "billing" is outside the queues of token/,
    );
    expect((await as(reportsAdmin).schedules.pauseSchedule({ name: "reports-nightly" })).schedule!.paused).toBe(true);
    expect((await as(reportsAdmin).schedules.triggerSchedule({ name: "reports-nightly" })).job!.queue).toBe("reports.daily");
    const { schedule } = await as(reportsAdmin).schedules.updateSchedule({ schedule: { name: "reports-nightly", queue: "reports.weekly", cron: "0 3 * * 1" } });
    expect(schedule).toMatchObject({ queue: "reports.weekly", paused: true });
    expect((await sql(broker.databaseUrl, "select queue from baton.schedules where name = 'billing-nightly'"))).toEqual([{ queue: "billing" }]);
  });

  test("a worker lists workers, and subscribes only to queues of its patterns (PERMISSION_DENIED)", async () => {
    await as(worker).workers.listWorkers({});
    const outside = openStream(as(worker).workers, { case: "hello", value: { workerId: "w", queues: ["emails.x", "billing"], maxInFlight: 1 } });
    const error = (await outside.ended) as ConnectError;
    expect(error).toBeInstanceOf(ConnectError);
    expect(Code[error.code]).toBe("PermissionDenied");
    expect(error.rawMessage).toMatch(new RegExp(`hello\\.queues\\[1\\] "billing" is outside the queues of token ${worker.id} \\("mailer"\\): emails\\.\\*, reports`));
    // A producer may not subscribe at all.
    const wrongRole = openStream(as(producer).workers, { case: "hello", value: { workerId: "w", queues: ["emails.x"], maxInFlight: 1 } });
    expect(((await wrongRole.ended) as ConnectError).rawMessage).toMatch(/WorkerService\/Subscribe needs the role worker or admin/);
  });

  test("a worker receives the jobs of its queues; continuations must stay inside its patterns", async () => {
    const stream = openStream(as(worker).workers, { case: "hello", value: { workerId: "w", queues: ["reports"], maxInFlight: 2 } });
    await stream.next("welcome");
    const { job } = await as(admin).jobs.enqueueJob({ queue: "reports", payload: new TextEncoder().encode("r1") });
    const delivery = await stream.next("job");
    expect(delivery.job!.id).toBe(job!.id);
    stream.send({
      case: "ack",
      value: { jobId: job!.id, leaseToken: delivery.leaseToken, continueWith: [{ queue: "billing" }] },
    });
    const error = (await stream.ended) as ConnectError;
    expect(Code[error.code]).toBe("PermissionDenied");
    expect(error.rawMessage).toMatch(/ack\.continue_with\[0\]\.queue "billing" is outside the queues of token/);
    expect(await sql(broker.databaseUrl, "select 1 from baton.jobs where queue = 'billing' and parent_id is not null")).toHaveLength(0);
  });
});

describe("revocation", () => {
  test("revoking a token closes its open stream with UNAUTHENTICATED, releases its jobs, and refuses its calls", async () => {
    const doomed = await createToken(["--role", "worker", "--queues", "revoked.*", "--name", "doomed"]);
    const stream = openStream(as(doomed).workers, { case: "hello", value: { workerId: "w", queues: ["revoked.q"], maxInFlight: 1 } });
    await stream.next("welcome");
    const { job } = await as(admin).jobs.enqueueJob({ queue: "revoked.q" });
    await stream.next("job");

    const run = await tokens(["revoke", doomed.id]);
    expect(run.code).toBe(0);
    expect(run.stderr).toMatch(new RegExp(`revoked API token ${doomed.id} \\("doomed"\\)`));

    const error = (await stream.ended) as ConnectError;
    expect(error).toBeInstanceOf(ConnectError);
    expect(Code[error.code]).toBe("Unauthenticated");
    expect(error.rawMessage).toMatch(new RegExp(`API token ${doomed.id} \\("doomed"\\) was revoked`));
    // The stream's lease is given back, as for any stream that ends.
    await eventually(async () => (await as(admin).jobs.getJob({ id: job!.id })).job!.state !== JobState.LEASED);
    await expectError(as(doomed).workers.listWorkers({}), Code.Unauthenticated, /API token \d+ \("doomed"\) was revoked at \d{4}-/);

    const again = await tokens(["revoke", doomed.id]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/was already revoked at/);
    const unknown = await tokens(["revoke", "999999"]);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/API token 999999 does not exist/);
  });

  test("a revocation whose notification was missed still closes the stream (periodic re-check)", async () => {
    const doomed = await createToken(["--role", "worker", "--queues", "*", "--name", "quiet"]);
    const stream = openStream(as(doomed).workers, { case: "hello", value: { workerId: "w", queues: ["quiet"], maxInFlight: 1 } });
    await stream.next("welcome");
    // Straight to the table: no NOTIFY reaches the broker.
    await sql(broker.databaseUrl, "update baton.api_tokens set revoke_time = now() where id = $1", [doomed.id]);
    const error = (await stream.ended) as ConnectError;
    expect(Code[error.code]).toBe("Unauthenticated");
    expect(error.rawMessage).toMatch(/was revoked/);
  });
});

test("the baton CLI sends BATON_TOKEN as its bearer token", async () => {
  const run = async (env: Record<string, string | undefined>) => {
    const cli = spawnTs("src/cli/main.ts", { BATON_URL: broker.baseUrl, ...env }, ["queues", "list", "--json"]);
    processes.push(cli);
    return cli.exited;
  };
  expect(await run({ BATON_TOKEN: undefined })).toBe(1);
  expect(await run({ BATON_TOKEN: admin.secret })).toBe(0);
});

test("the TypeScript client sends its token option on every call, its enqueue stream and its worker's stream", async () => {
  const client = createBatonClient({ baseUrl: broker.baseUrl, token: producer.secret });
  const anonymous = createBatonClient({ baseUrl: broker.baseUrl });
  const handled: string[] = [];
  const mailer = runWorker({ baseUrl: broker.baseUrl, token: worker.secret, queues: ["emails.token"], concurrency: 2, handler: (job) => void handled.push(job.id) });
  try {
    await expectError(anonymous.enqueue("emails.token", "x"), Code.Unauthenticated, /^missing API token/);
    const { job } = await client.enqueue("emails.token", "hello");
    expect((await client.getJob(job.id)).queue).toBe("emails.token");
    await eventually(() => handled.includes(job.id), { what: "the worker with a token to run the job" });
    const { queues, tokens } = connectServices({ baseUrl: broker.baseUrl, token: admin.secret, timeoutMs: 10_000 });
    expect((await queues.getQueue({ queue: "emails.token" })).queue!.name).toBe("emails.token");
    expect((await tokens.getCurrentToken({})).name).toBe("ops");
  } finally {
    await mailer.stop();
    client.close();
    anonymous.close();
  }
});

test("every token learns its own name, role and queues (the dashboard offers only what the role may do)", async () => {
  expect(await as(viewer).tokens.getCurrentToken({})).toMatchObject({ authentication: true, name: "dashboard", role: TokenRole.VIEWER, queues: ["*"] });
  expect(await as(producer).tokens.getCurrentToken({})).toMatchObject({ name: "shop", role: TokenRole.PRODUCER, queues: ["emails.*"] });
  expect(await as(worker).tokens.getCurrentToken({})).toMatchObject({ name: "mailer", role: TokenRole.WORKER, queues: ["emails.*", "reports"] });
  expect(await as(admin).tokens.getCurrentToken({})).toMatchObject({ name: "ops", role: TokenRole.ADMIN });
  await expectError(clients().tokens.getCurrentToken({}), Code.Unauthenticated, /missing API token/);
});

describe("the viewer role", () => {
  /** What the dashboard reads; everything else changes something. */
  const READS = new Set(["GetJob", "WaitJob", "ListJobs", "ListWorkers", "ListQueues", "GetQueue", "GetQueueHistory", "ListSchedules", "GetCurrentToken"]);
  const services = [JobService, WorkerService, QueueService, ScheduleService, TokenService];

  test("a viewer reads every page of the dashboard and is refused every change, on every RPC there is", async () => {
    const { job } = await as(admin).jobs.enqueueJob({ queue: "reports" });
    const reader = as(viewer);
    expect((await reader.queues.listQueues({})).queues.map((q) => q.name)).toContain("reports");
    expect((await reader.queues.getQueue({ queue: "reports" })).queue!.name).toBe("reports");
    expect((await reader.queues.getQueueHistory({ queue: "reports" })).points).toHaveLength(60);
    expect((await reader.queues.getQueueHistory({})).points).toHaveLength(60);
    expect((await reader.jobs.listJobs({})).jobs.map((j) => j.id)).toContain(job!.id);
    expect((await reader.jobs.getJob({ id: job!.id })).job!.queue).toBe("reports");
    expect((await reader.jobs.waitJob({ id: job!.id, timeout: { seconds: 0n, nanos: 1_000_000 } })).timedOut).toBe(true);
    await reader.workers.listWorkers({});
    await reader.schedules.listSchedules({});
    expect((await reader.tokens.getCurrentToken({})).role).toBe(TokenRole.VIEWER);

    // Every other method of every service, whatever its kind: new RPCs are covered as they come.
    const transport = createGrpcTransport({
      baseUrl: broker.baseUrl,
      interceptors: [(next) => (req) => (req.header.set("authorization", `Bearer ${viewer.secret}`), next(req))],
    });
    const changes = services.flatMap((service) => service.methods.filter((method) => !READS.has(method.name)));
    expect(changes.length).toBeGreaterThan(10);
    for (const method of changes) {
      const request = create(method.input);
      const call =
        method.methodKind === "unary"
          ? transport.unary(method as DescMethodUnary, undefined, undefined, undefined, request)
          : transport.stream(method as DescMethodStreaming, undefined, undefined, undefined, createAsyncIterable([request])).then(async (response) => {
              for await (const message of response.message) void message;
            });
      await expectError(call, Code.PermissionDenied, new RegExp(`${method.parent.typeName}/${method.name} needs the role (\\w+ or )?admin`));
    }
    // Nothing changed: the job still waits.
    expect((await as(admin).jobs.getJob({ id: job!.id })).job!.state).toBe(JobState.AVAILABLE);
  });
});
