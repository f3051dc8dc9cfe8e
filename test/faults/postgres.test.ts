/**
 * PostgreSQL restarted in immediate mode (SIGQUIT to the postmaster, which is what
 * `pg_ctl -m immediate` sends: no checkpoint, every connection cut, crash recovery on start)
 * under load. The suite's shared server cannot be restarted, so this file runs its own
 * embedded PostgreSQL whose process it controls.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../src/store/embedded.js";
import { SEEDS, size, timeoutMs } from "./config.js";
import { freePort } from "../../src/util/free-port.js";
import { inScenario, sleep, waitUntil } from "./harness.js";
import { flushSummary } from "./summary.js";

afterAll(() => flushSummary("postgres"));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Immediate shutdown: SIGQUIT to the postmaster, then wait until it is gone. */
async function crash(server: EmbeddedDatabase): Promise<number> {
  const pid = Number(readFileSync(path.join(server.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
  process.kill(pid, "SIGQUIT");
  await waitUntil(() => !alive(pid), "the postmaster to exit", 30_000);
  return pid;
}

describe.each(SEEDS)("seed %i", (seed) => {
  test(
    "PostgreSQL restarted in immediate mode under load: the broker reconnects, nothing lost, reruns explained",
    inScenario("postgres-immediate-restart", seed, async (scenario) => {
      const dataDir = mkdtempSync(path.join(tmpdir(), "baton-faults-pg-"));
      const port = await freePort();
      let server = await startEmbeddedPostgres(dataDir, port);
      // After the broker is gone: the server of the moment (the last restart's) and its files.
      scenario.onCleanup(async () => {
        await server.stop().catch(() => {});
        rmSync(dataDir, { recursive: true, force: true });
      });
      const databaseUrl = server.url;
      const broker = await scenario.brokerProcess(databaseUrl);
      const queue = `pgrestart-${seed}`;
      const urls = [broker.url];
      await scenario.workers(3, { urls, queues: [queue], id: "w", concurrency: 8, workMs: "5-40" });
      const total = size(400);
      const producing = scenario.producer(urls).run(queue, total, 20, 40, { deadlineMs: 120_000 });
      const restarts = size(2);
      for (let k = 0; k < restarts; k++) {
        await scenario.reachFaultPoint(k, restarts, total, 90_000);
        const downMs = scenario.random.int(0, 2_500);
        await crash(server);
        await sleep(downMs);
        server = await startEmbeddedPostgres(dataDir, port);
        scenario.history.fault("postgres immediate restart", { downMs });
      }
      await producing;
      await scenario.verify(databaseUrl, [queue], { timeoutMs: 90_000 });
      expect(broker.process.child.exitCode).toBeNull();
    }),
    timeoutMs(150_000),
  );
});
