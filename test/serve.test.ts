import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { runWorker } from "../clients/ts/src/index.js";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { Health, HealthCheckResponse_ServingStatus } from "../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import { type TestProcess, killAll, spawnProcess } from "./helpers/process.js";
import { freePort } from "../src/util/free-port.js";
import { eventually } from "./helpers/wait.js";

/**
 * The newcomer's path: `npm start` with no database configured brings the broker up on an
 * embedded PostgreSQL whose data survives restarts, and SIGTERM drains in-flight work.
 */
let dataDir: string;
let port: number;
const processes: TestProcess[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "baton-serve-"));
  port = await freePort();
});

afterAll(async () => {
  await killAll(processes);
  rmSync(dataDir, { recursive: true, force: true });
});

function startBroker(command: "npm" | "node"): TestProcess {
  const env = {
    BATON_DATA_DIR: dataDir,
    BATON_PORT: String(port),
    BATON_DRAIN_SECONDS: "10",
    // The broker must not find a database URL in the test runner's environment.
    BATON_DATABASE_URL: undefined,
    DATABASE_URL: undefined,
  };
  const args = command === "npm" ? ["start"] : ["dist/src/cli/main.js", "serve"];
  const broker = spawnProcess(command === "npm" ? "npm" : process.execPath, args, env);
  processes.push(broker);
  return broker;
}

const baseUrl = () => `http://127.0.0.1:${port}`;
const transport = () => createGrpcTransport({ baseUrl: baseUrl() });

async function waitServing(): Promise<void> {
  const health = createClient(Health, transport());
  await eventually(
    async () => (await health.check({}).then((r) => r.status, () => undefined)) === HealthCheckResponse_ServingStatus.SERVING,
    { timeoutMs: 60_000, intervalMs: 100, what: "the broker to serve" },
  );
}

test("npm start serves on the embedded database, keeps data across restarts, and drains on SIGTERM", async () => {
  const first = startBroker("npm");
  const firstLog = await first.waitFor((e) => typeof e.msg === "string");
  expect(firstLog.msg).toMatch(/starting embedded PostgreSQL/);
  await waitServing();
  const jobs = createClient(JobService, transport());
  const { job } = await jobs.enqueueJob({ queue: "survivor" });
  // Signal the broker itself (npm's child), as a process supervisor would.
  const { pid } = await first.waitFor((e) => e.msg === "baton serving");
  process.kill(pid as number, "SIGTERM");
  expect(await first.exited).toBe(0);

  // Same data directory: the job is still there.
  const second = startBroker("node");
  await waitServing();
  expect((await jobs.getJob({ id: job!.id })).job!.state).toBe(JobState.AVAILABLE);

  // SIGTERM while a job runs: the broker waits for its ack before it stops.
  let finish!: () => void;
  const started = new Promise<void>((resolveStarted) => {
    const worker = runWorker({
      baseUrl: baseUrl(),
      queues: ["survivor"],
      concurrency: 1,
      handler: async () => {
        resolveStarted();
        await new Promise<void>((resolve) => (finish = resolve));
        return "finished during drain";
      },
    });
    void second.exited.then(() => worker.stop());
  });
  await started;
  second.kill("SIGTERM");
  await second.waitFor((e) => e.msg === "shutting down");
  finish();
  expect(await second.exited).toBe(0);

  const third = startBroker("node");
  await waitServing();
  const finished = (await jobs.getJob({ id: job!.id })).job!;
  expect(finished.state).toBe(JobState.SUCCEEDED);
  expect(new TextDecoder().decode(finished.result)).toBe("finished during drain");
  third.kill("SIGTERM");
  expect(await third.exited).toBe(0);
  // Three starts, the first through `npm start`, which builds first: minutes on a loaded machine.
}, 180_000);
