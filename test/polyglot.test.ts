import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { JobState, createClient } from "../clients/ts/src/index.js";
import { loadConfig } from "../src/config.js";
import { generateTokenSecret, hashTokenSecret } from "../src/server/api-tokens.js";
import { createDatabase } from "../src/store/database.js";
import { tokenCreate } from "../src/store/tokens.js";
import { startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { type TestProcess, killAll, runCommand, spawnProcess } from "./helpers/process.js";
import { goMissing, installCodegen, installPythonVenv, pythonMissing, root, skipWithout } from "./polyglot/toolchains.js";

/**
 * The Go and Python clients' own suites (each starts its own broker on an embedded database),
 * and a chain that crosses all three languages. Without a toolchain its tests are skipped with
 * the reason; with BATON_REQUIRE_POLYGLOT=1 (CI) they fail instead.
 */
const goReason = goMissing();
const pythonReason = pythonMissing();
const scratch = mkdtempSync(path.join(tmpdir(), "baton-polyglot-"));
const processes: TestProcess[] = [];

afterAll(async () => {
  await killAll(processes);
  rmSync(scratch, { recursive: true, force: true });
});

test.concurrent("Go client: gofmt, go vet and go test ./... in clients/go", async (context) => {
  skipWithout(goReason, context);
  const dir = path.join(root, "clients/go");
  expect(await runCommand("gofmt", ["-l", "."], dir), "files gofmt would change").toBe("");
  await runCommand("go", ["vet", "./..."], dir);
  await runCommand("go", ["test", "-count=1", "./..."], dir);
}, 600_000);

test.concurrent("Python client: mypy --strict and pytest in clients/python", async (context) => {
  skipWithout(pythonReason, context);
  installPythonVenv();
  const python = path.join(root, "clients/python/.venv/bin/python");
  await runCommand(python, ["-m", "mypy"], path.join(root, "clients/python"));
  await runCommand(python, ["-m", "pytest", "-q"], path.join(root, "clients/python"));
}, 600_000);

test("a chain crosses languages: TypeScript enqueues, Python continues, Go finishes", async (context) => {
  skipWithout(goReason ?? pythonReason, context);
  const goWorker = await buildGoFixtureWorker("fixtureworker");
  const broker = await startTestBroker();
  try {
    const python = spawnProcess(
      path.join(root, "clients/python/.venv/bin/python"),
      ["clients/python/tests/fixture_worker.py"],
      { BATON_URL: broker.baseUrl, QUEUE: "chain-step-1", CONTINUE_TO: "chain-step-2" },
    );
    const go = spawnProcess(goWorker, [], { BATON_URL: broker.baseUrl, QUEUE: "chain-step-2" });
    processes.push(python, go);

    const client = createClient({ baseUrl: broker.baseUrl });
    const { job: rootJob } = await client.enqueue("chain-step-1", "order-17");
    const step2 = await go.waitFor((e) => e.event === "done");
    const [first, second] = await Promise.all([client.waitJob(rootJob.id), client.waitJob(String(step2.id))]);

    expect(first).toMatchObject({ state: JobState.SUCCEEDED, chainId: rootJob.id });
    expect(new TextDecoder().decode(first.result)).toBe("order-17|py");
    expect(second).toMatchObject({ state: JobState.SUCCEEDED, queue: "chain-step-2", chainId: rootJob.id, parentId: rootJob.id });
    expect(new TextDecoder().decode(second.result)).toBe("order-17|py|go");
    // One trace for the whole chain: every job of it carries the chain's trace id, which is what
    // its send and process spans (and the traceparent handed to each worker) are filed under.
    const traces = await sql(broker.databaseUrl, "select distinct trace_id from baton.jobs where chain_id = $1", [rootJob.id]);
    expect(traces).toHaveLength(1);
  } finally {
    await killAll(processes);
    await broker.stop();
  }
}, 300_000);

test("a DAG crosses languages: TypeScript enqueues it in one call, Python runs the root and the children, Go the fan-in with their results", async (context) => {
  skipWithout(goReason ?? pythonReason, context);
  const goWorker = await buildGoFixtureWorker("fixtureworker-dag");
  const broker = await startTestBroker();
  const client = createClient({ baseUrl: broker.baseUrl });
  try {
    const python = spawnProcess(path.join(root, "clients/python/.venv/bin/python"), ["clients/python/tests/fixture_worker.py"], {
      BATON_URL: broker.baseUrl,
      QUEUE: "dag-py",
    });
    const go = spawnProcess(goWorker, [], { BATON_URL: broker.baseUrl, QUEUE: "dag-go" });
    processes.push(python, go);
    const [rootJob] = await client.enqueueMany([
      { queue: "dag-py", payload: "r" },
      ...["a", "b", "c"].map((payload) => ({ queue: "dag-py", payload, dependsOnIndex: [0] })),
      { queue: "dag-go", payload: "f", dependsOnIndex: [1, 2, 3] },
    ]);
    const chain = await client.waitChain(rootJob!.job.id);
    expect(chain.map((job) => job.state)).toEqual(Array(5).fill(JobState.SUCCEEDED));
    expect(new TextDecoder().decode(chain[0]!.result)).toBe("f<a<r|py|py+b<r|py|py+c<r|py|py|go");
  } finally {
    client.close();
    await killAll(processes);
    await broker.stop();
  }
}, 300_000);

test("Go and Python workers connect with an API token (WithToken, token=); without one they are refused", async (context) => {
  skipWithout(goReason ?? pythonReason, context);
  const goWorker = await buildGoFixtureWorker("fixtureworker-token");
  const broker = await startTestBroker({ auth: loadConfig({ BATON_AUTH: "on" }).auth });
  const db = createDatabase({ url: broker.databaseUrl, maxConnections: 1 });
  try {
    const token = async (role: "worker" | "producer") => {
      const secret = generateTokenSecret();
      await tokenCreate(db, { name: `polyglot-${role}`, role, queues: ["tok-*"], secretSha256: hashTokenSecret(secret) });
      return secret;
    };
    const [workerToken, producerToken] = [await token("worker"), await token("producer")];
    const python = spawnProcess(path.join(root, "clients/python/.venv/bin/python"), ["clients/python/tests/fixture_worker.py"], {
      BATON_URL: broker.baseUrl,
      QUEUE: "tok-py",
      BATON_TOKEN: workerToken,
    });
    const go = spawnProcess(goWorker, [], { BATON_URL: broker.baseUrl, QUEUE: "tok-go", BATON_TOKEN: workerToken });
    const anonymous = spawnProcess(goWorker, [], { BATON_URL: broker.baseUrl, QUEUE: "tok-go" });
    processes.push(python, go, anonymous);
    const client = createClient({ baseUrl: broker.baseUrl, token: producerToken });
    try {
      const [{ job: forPython }, { job: forGo }] = await Promise.all([client.enqueue("tok-py", "p"), client.enqueue("tok-go", "g")]);
      const [pythonDone, goDone] = await Promise.all([
        python.waitFor((e) => e.event === "done"),
        go.waitFor((e) => e.event === "done"),
      ]);
      expect([pythonDone.id, goDone.id]).toEqual([forPython.id, forGo.id]);
      const refused = await anonymous.waitFor((e) => e.event === "error");
      expect(String(refused.error)).toMatch(/missing API token/);
    } finally {
      client.close();
    }
  } finally {
    await killAll(processes);
    await db.close();
    await broker.stop();
  }
}, 300_000);

/** Builds the Go fixture worker (clients/go/internal/fixtureworker) into the scratch folder; its path. */
async function buildGoFixtureWorker(name: string): Promise<string> {
  installCodegen();
  const binary = path.join(scratch, name);
  await runCommand("go", ["build", "-o", binary, "./internal/fixtureworker"], path.join(root, "clients/go"));
  return binary;
}
