/**
 * BATON_AUTH_TOKENS_FILE: API tokens handed to the broker in a file (a mounted Kubernetes
 * Secret) are created at start, once, whatever the number of starts and replicas; a malformed
 * file stops the start with the file and line named, before the database is touched.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { loadConfig } from "../src/config.js";
import { generateTokenSecret } from "../src/server/api-tokens.js";
import { type TestBroker, bearerTransport, startTestBroker } from "./helpers/broker.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { type TestProcess, killAll, runTs } from "./helpers/process.js";

let dir: string;
const processes: TestProcess[] = [];
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), "baton-tokens-file-"));
});
afterAll(async () => {
  await killAll(processes);
  rmSync(dir, { recursive: true, force: true });
});

let fileCount = 0;
function tokensFile(text: string): string {
  const file = path.join(dir, `tokens-${++fileCount}`);
  writeFileSync(file, text);
  return file;
}

const authWithFile = (file: string) => loadConfig({ BATON_AUTH: "on", BATON_AUTH_TOKENS_FILE: file }).auth;
const storedTokens = (databaseUrl: string) =>
  sql<{ name: string; role: string; queues: string[]; revoked: boolean }>(
    databaseUrl,
    "select name, role, queues, revoke_time is not null as revoked from baton.api_tokens order by id",
  );

async function codeOf(call: Promise<unknown>): Promise<string | undefined> {
  const error = await call.then(() => undefined, (e: unknown) => e);
  return error instanceof ConnectError ? Code[error.code] : undefined;
}

describe("a valid tokens file", () => {
  const shop = generateTokenSecret();
  const mailer = generateTokenSecret();
  const text = [
    "# name  role      queues            secret",
    `shop    producer  emails.*          ${shop}`,
    "",
    `mailer\tworker\temails.*,reports\t${mailer}`,
    "",
  ].join("\n");
  let file: string;
  let first: TestBroker;
  let second: TestBroker | undefined;
  beforeAll(async () => {
    file = tokensFile(text);
    first = await startTestBroker({ auth: authWithFile(file) });
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
  });

  test("its tokens authenticate, with the role and queues the file gives them", async () => {
    const shopJobs = createClient(JobService, bearerTransport(first.baseUrl, shop));
    const { job } = await shopJobs.enqueueJob({ queue: "emails.welcome" });
    expect(job?.queue).toBe("emails.welcome");
    expect(await codeOf(shopJobs.enqueueJob({ queue: "reports" }))).toBe("PermissionDenied");
    const mailerWorkers = createClient(WorkerService, bearerTransport(first.baseUrl, mailer));
    await mailerWorkers.listWorkers({});
    expect(await codeOf(createClient(JobService, bearerTransport(first.baseUrl, mailer)).enqueueJob({ queue: "reports" }))).toBe("PermissionDenied");
    expect(await codeOf(createClient(JobService, bearerTransport(first.baseUrl, generateTokenSecret())).enqueueJob({ queue: "emails.x" }))).toBe(
      "Unauthenticated",
    );
  });

  test("another start (a second replica) creates nothing twice, and a revoked token stays revoked", async () => {
    expect(await storedTokens(first.databaseUrl)).toEqual([
      { name: "shop", role: "producer", queues: ["emails.*"], revoked: false },
      { name: "mailer", role: "worker", queues: ["emails.*", "reports"], revoked: false },
    ]);
    await sql(first.databaseUrl, "update baton.api_tokens set revoke_time = now() where name = 'mailer'");
    second = await startTestBroker({ auth: authWithFile(file) }, first.databaseUrl);
    expect(await storedTokens(first.databaseUrl)).toEqual([
      { name: "shop", role: "producer", queues: ["emails.*"], revoked: false },
      { name: "mailer", role: "worker", queues: ["emails.*", "reports"], revoked: true },
    ]);
    expect(await codeOf(createClient(WorkerService, bearerTransport(second.baseUrl, mailer)).listWorkers({}))).toBe("Unauthenticated");
  });
});

describe("a malformed tokens file stops the start, naming the line, before the database is touched", () => {
  const secret = generateTokenSecret();
  test.for([
    ["too few fields", `ops admin ${secret}`, /line 2: expected 4 fields "name role queues secret", got 3/],
    ["an unknown role", `ops root * ${secret}`, /line 2: role must be one of producer, worker, admin, viewer, got "root"/],
    ["a bad name", `-ops admin * ${secret}`, /line 2: name "-ops" is invalid/],
    ["a bad queue pattern", `ops admin emails/* ${secret}`, /line 2: queue pattern "emails\/\*" is invalid/],
    ["a weak secret", "ops admin * baton_short", /line 2: the secret must be "baton_" followed by at least 32 base64url characters/],
    ["a secret without the prefix", `ops admin * ${secret.slice("baton_".length)}`, /line 2: the secret must be "baton_"/],
    ["a secret given twice", `ops admin * ${secret}\nci producer ci.* ${secret}`, /line 3: its secret is the one of line 2/],
  ] as const)("%s", async ([, line, message]) => {
    const databaseUrl = await createTestDatabase();
    const file = tokensFile(`# the first line is a comment\n${line}\n`);
    const error = await startTestBroker({ auth: authWithFile(file) }, databaseUrl).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(message);
    expect(error?.message).toContain(`BATON_AUTH_TOKENS_FILE "${file}"`);
    // The message never repeats the line: it may hold a secret.
    expect(error?.message).not.toContain(secret.slice("baton_".length));
    expect(await storedTokens(databaseUrl)).toEqual([]);
  });

  test("a file that cannot be read", async () => {
    const missing = path.join(dir, "missing");
    const error = await startTestBroker({ auth: authWithFile(missing) }).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(new RegExp(`^cannot read BATON_AUTH_TOKENS_FILE "${missing}": ENOENT`));
  });

  test("`baton serve` exits 1 with the message", async () => {
    const file = tokensFile(`ops admin * not-a-secret\n`);
    const run = await runTs(
      "src/cli/main.ts",
      { BATON_DATABASE_URL: await createTestDatabase(), BATON_HOST: "127.0.0.1", BATON_PORT: "0", BATON_AUTH_TOKENS_FILE: file },
      ["serve"],
      processes,
    );
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`BATON_AUTH_TOKENS_FILE "${file}", line 1: the secret must be`);
  });
});
