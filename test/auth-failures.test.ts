import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { generateTokenSecret, hashTokenSecret } from "../src/server/api-tokens.js";
import { failureSource } from "../src/server/auth.js";
import { createDatabase } from "../src/store/database.js";
import { tokenCreate } from "../src/store/tokens.js";
import { type TestBroker, bearerTransport, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type CompletedRun, type TestProcess, killAll, runTs } from "./helpers/process.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

/**
 * What unknown, expired and guessed tokens cost: unknown secrets are cached, failed lookups are
 * limited per client address, and tokens may expire (baton tokens create --expires-in).
 */

/** Auth with a long cache and no failure limit: what is cached shows. */
let cached: TestBroker;
/** Auth with a failure limit of 3 per 60 s window. */
let limited: TestBroker;
const processes: TestProcess[] = [];

beforeAll(async () => {
  [cached, limited] = await Promise.all([
    startTestBroker({ auth: loadConfig({ BATON_AUTH: "on", BATON_AUTH_CACHE_SECONDS: "60", BATON_AUTH_FAILURE_LIMIT: "0" }).auth }),
    startTestBroker({ auth: loadConfig({ BATON_AUTH: "on", BATON_AUTH_FAILURE_LIMIT: "3", BATON_AUTH_FAILURE_WINDOW_SECONDS: "60" }).auth }),
  ]);
});

afterAll(async () => {
  await killAll(processes);
  await limited?.stop();
  await cached?.stop();
});

interface Clients {
  jobs: Client<typeof JobService>;
  workers: Client<typeof WorkerService>;
}

function clients(broker: TestBroker, secret: string): Clients {
  const transport = bearerTransport(broker.baseUrl, secret);
  return { jobs: createClient(JobService, transport), workers: createClient(WorkerService, transport) };
}

/** Stores a token for `secret`, as `baton tokens create` does; returns its id. */
async function storeToken(broker: TestBroker, secret: string, expiresInSeconds?: number): Promise<string> {
  const db = createDatabase({ url: broker.databaseUrl, maxConnections: 1 });
  try {
    const token = await tokenCreate(db, {
      name: "t",
      role: "producer",
      queues: ["*"],
      secretSha256: hashTokenSecret(secret),
      ...(expiresInSeconds !== undefined && { expiresInSeconds }),
    });
    return token.id;
  } finally {
    await db.close();
  }
}

async function errorOf(call: Promise<unknown>): Promise<[string, string]> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectError);
  return [Code[(error as ConnectError).code], (error as ConnectError).rawMessage];
}

describe("unknown tokens", () => {
  test("an unknown secret is remembered: a token stored for it meanwhile is not looked up until the cache expires", async () => {
    const secret = generateTokenSecret();
    expect(await errorOf(clients(cached, secret).jobs.getJob({ id: "1" }))).toEqual(["Unauthenticated", "unknown API token"]);
    await storeToken(cached, secret);
    expect(await errorOf(clients(cached, secret).jobs.getJob({ id: "1" }))).toEqual(["Unauthenticated", "unknown API token"]);
  });

  test("past BATON_AUTH_FAILURE_LIMIT failures, an address's uncached tokens are refused without a lookup; cached ones still work", async () => {
    const good = generateTokenSecret();
    await storeToken(limited, good);
    await clients(limited, good).jobs.enqueueJob({ queue: "q" });
    for (let i = 0; i < 3; i++) {
      expect(await errorOf(clients(limited, generateTokenSecret()).jobs.getJob({ id: "1" }))).toEqual(["Unauthenticated", "unknown API token"]);
    }
    const [code, message] = await errorOf(clients(limited, generateTokenSecret()).jobs.getJob({ id: "1" }));
    expect(code).toBe("ResourceExhausted");
    expect(message).toMatch(/^too many failed authentications from 127\.0\.0\.1: 3 in 60s \(BATON_AUTH_FAILURE_LIMIT\); retry in \d+ s$/);
    // A valid token that this replica has not seen yet needs a lookup, so it waits too...
    const fresh = generateTokenSecret();
    await storeToken(limited, fresh);
    expect((await errorOf(clients(limited, fresh).jobs.getJob({ id: "1" })))[0]).toBe("ResourceExhausted");
    // ...while one already cached is served: a flood from an address does not lock out its honest clients.
    await clients(limited, good).jobs.enqueueJob({ queue: "q" });
  });

  test("only lookups count as failures: the same wrong secret answered from the cache costs its address nothing", async () => {
    const patient = await startTestBroker({
      auth: loadConfig({ BATON_AUTH: "on", BATON_AUTH_CACHE_SECONDS: "60", BATON_AUTH_FAILURE_LIMIT: "2" }).auth,
    });
    try {
      const stale = generateTokenSecret();
      for (let i = 0; i < 5; i++) {
        expect(await errorOf(clients(patient, stale).jobs.getJob({ id: "1" }))).toEqual(["Unauthenticated", "unknown API token"]);
      }
      // One failure so far: a second, new secret is still looked up...
      expect(await errorOf(clients(patient, generateTokenSecret()).jobs.getJob({ id: "1" }))).toEqual(["Unauthenticated", "unknown API token"]);
      // ...and that made two: the limit.
      expect((await errorOf(clients(patient, generateTokenSecret()).jobs.getJob({ id: "1" })))[0]).toBe("ResourceExhausted");
    } finally {
      await patient.stop();
    }
  });

  test("failures are counted per IPv4 address, and per /64 network for IPv6 (one host holds a whole /64)", () => {
    expect(failureSource("203.0.113.7")).toBe("203.0.113.7");
    expect(failureSource("::ffff:203.0.113.7")).toBe("203.0.113.7");
    expect(failureSource("2001:db8:1:2:aaaa:bbbb:cccc:dddd")).toBe("2001:db8:1:2::/64");
    expect(failureSource("2001:db8:1:2::1")).toBe("2001:db8:1:2::/64");
    expect(failureSource("2001:0db8::1")).toBe("2001:db8:0:0::/64");
    expect(failureSource("::1")).toBe("0:0:0:0::/64");
    expect(failureSource("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(failureSource("unknown")).toBe("unknown");
  });

  test("the failure settings refuse bad values", () => {
    expect(() => loadConfig({ BATON_AUTH_FAILURE_LIMIT: "-1" })).toThrow('BATON_AUTH_FAILURE_LIMIT must be an integer >= 0, got "-1"');
    expect(() => loadConfig({ BATON_AUTH_FAILURE_LIMIT: "many" })).toThrow('BATON_AUTH_FAILURE_LIMIT must be an integer >= 0, got "many"');
    expect(() => loadConfig({ BATON_AUTH_FAILURE_WINDOW_SECONDS: "0" })).toThrow(/BATON_AUTH_FAILURE_WINDOW_SECONDS must be a positive number of seconds, got "0"/);
  });
});

describe("token expiry", () => {
  test("a token that expires is refused from then on, though its lookup is still cached", async () => {
    const secret = generateTokenSecret();
    const id = await storeToken(cached, secret, 2);
    const jobs = clients(cached, secret).jobs;
    await jobs.enqueueJob({ queue: "q" });
    const [token] = await sql<{ expire_time: Date }>(cached.databaseUrl, "select expire_time from baton.api_tokens where id = $1", [id]);
    const expireTime = token!.expire_time;
    let refusal: [string, string] | undefined;
    await eventually(
      async () => {
        refusal = await jobs.enqueueJob({ queue: "q" }).then(
          () => undefined,
          (error: ConnectError) => [Code[error.code], error.rawMessage],
        );
        return refusal !== undefined;
      },
      { what: "the token to expire", timeoutMs: 10_000 },
    );
    expect(refusal).toEqual(["Unauthenticated", `token expired: API token ${id} ("t") expired at ${expireTime.toISOString()}`]);
  });

  test("an expired token is refused at its first use; its open stream is closed when it expires", async () => {
    const expired = generateTokenSecret();
    const id = await storeToken(cached, expired, 60);
    await sql(cached.databaseUrl, "update baton.api_tokens set expire_time = create_time + interval '1 millisecond' where id = $1", [id]);
    const [code, message] = await errorOf(clients(cached, expired).jobs.getJob({ id: "1" }));
    expect([code, message.startsWith(`token expired: API token ${id} ("t") expired at `)]).toEqual(["Unauthenticated", true]);

    const worker = generateTokenSecret();
    const db = createDatabase({ url: cached.databaseUrl, maxConnections: 1 });
    await tokenCreate(db, { name: "w", role: "worker", queues: ["*"], secretSha256: hashTokenSecret(worker), expiresInSeconds: 2 }).finally(() => db.close());
    const stream = openStream(clients(cached, worker).workers, { case: "hello", value: { workerId: "w", queues: ["expiring"], maxInFlight: 1 } });
    await stream.next("welcome");
    const error = (await stream.ended) as ConnectError;
    expect([Code[error.code], /^token expired: API token \d+ \("w"\) expired at /.test(error.rawMessage)]).toEqual(["Unauthenticated", true]);
  });
});

describe("baton tokens create --expires-in", () => {
  function tokens(args: string[]): Promise<CompletedRun> {
    return runTs("src/cli/main.ts", { BATON_DATABASE_URL: cached.databaseUrl, DATABASE_URL: undefined }, ["tokens", ...args], processes);
  }

  test("sets the expiry from database time; tokens list shows it, and marks expired tokens", async () => {
    const run = await tokens(["create", "--role", "producer", "--queues", "ci.*", "--name", "ci", "--expires-in", "30d", "--json"]);
    expect(run.stderr).toBe("");
    const created = JSON.parse(run.stdout) as { id: string; createTime: string; expireTime: string };
    expect(Date.parse(created.expireTime) - Date.parse(created.createTime)).toBe(30 * 86_400_000);
    await sql(cached.databaseUrl, "update baton.api_tokens set create_time = create_time - interval '31 days', expire_time = expire_time - interval '31 days' where id = $1", [created.id]);
    const list = await tokens(["list"]);
    expect(list.stdout).toMatch(/ID\s+NAME\s+ROLE\s+QUEUES\s+LIMITS\s+CREATED\s+EXPIRES\s+REVOKED/);
    expect(list.stdout).toMatch(new RegExp(`${created.id}\\s+ci\\s+producer\\s+ci\\.\\*\\s+defaults\\s+\\S+\\s+\\S+ \\(expired\\)\\s+-`));
  });

  test("refuses a malformed or out-of-range --expires-in", async () => {
    for (const [value, message] of [
      ["soon", '--expires-in must be a duration like 500ms, 5s, 2m, 1h or 7d, got "soon"'],
      ["500ms", '--expires-in must be between 1s and 3650d, got "500ms"'],
      ["4000d", '--expires-in must be between 1s and 3650d, got "4000d"'],
    ]) {
      const run = await tokens(["create", "--role", "producer", "--queues", "*", "--expires-in", value!]);
      expect([run.code, run.stderr.includes(message!)]).toEqual([2, true]);
    }
  });
});
