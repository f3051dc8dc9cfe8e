/**
 * A network partition between the broker and PostgreSQL, through the loopback TCP proxy: open
 * connections go silent and new ones are never answered. The broker must notice on its own
 * (readiness NOT_SERVING, one log line), answer RPCs at once with UNAVAILABLE and a retry hint
 * rather than hold them for the whole partition, and recover without a restart when the
 * network heals (readiness SERVING, one log line), with nothing lost. Liveness stays SERVING
 * throughout.
 *
 * The partition lasts 40 s, as long as the outage this reproduces, whatever BATON_FAULT_SCALE
 * (which scales the job count): far longer than every database timeout the broker sets, so
 * nothing here can pass by outlasting the partition.
 */
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, test } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import { createTestDatabase } from "../helpers/database.js";
import { eventually } from "../helpers/wait.js";
import { SEEDS, size, timeoutMs } from "./config.js";
import { inScenario, jobClient, sleep } from "./harness.js";
import { flushSummary } from "./summary.js";

afterAll(() => flushSummary("partition"));

/** Short timeouts, so that requests caught by the partition end well inside it. */
const QUERY_TIMEOUT_SECONDS = 6;
const DATABASE_ENV = {
  BATON_DB_CONNECT_TIMEOUT_SECONDS: "1",
  BATON_DB_STATEMENT_TIMEOUT_SECONDS: "4",
  BATON_DB_QUERY_TIMEOUT_SECONDS: String(QUERY_TIMEOUT_SECONDS),
  BATON_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS: "4",
  BATON_DB_HEALTH_SECONDS: "0.25",
};

describe.each(SEEDS)("seed %i", (seed) => {
  test(
    "a partition between broker and PostgreSQL: readiness flips, RPCs fail fast with UNAVAILABLE, recovery without restart, nothing lost",
    inScenario("database-partition", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const direct = new URL(databaseUrl);
      const proxy = await scenario.tcpProxy(Number(direct.port), direct.hostname);
      const proxied = new URL(databaseUrl);
      proxied.hostname = "127.0.0.1";
      proxied.port = String(proxy.port);
      const broker = await scenario.brokerProcess(proxied.toString(), { env: DATABASE_ENV });
      const pid = broker.process.child.pid;
      const health = createClient(Health, createGrpcTransport({ baseUrl: broker.url }));
      const status = () => health.check({}).then((r) => r.status);
      const healthz = async () => {
        const response = await fetch(`${broker.url}/healthz`);
        return `${response.status} ${(await response.text()).trim()}`;
      };
      const queue = `partition-${seed}`;
      const urls = [broker.url];
      await scenario.workers(2, { urls, queues: [queue], id: "w", concurrency: 8, workMs: "5-40" });
      const partitionMs = 40_000;
      const total = size(300);
      // The producer retries every refused enqueue until the broker acknowledges it.
      const producing = scenario.producer(urls).run(queue, total, 10, 40, { deadlineMs: partitionMs + 60_000 });
      await eventually(() => scenario.confirmedAcks() >= total / 4, { timeoutMs: 60_000, what: "a quarter of the jobs to be acked" });

      const partitionedAt = Date.now();
      const links = proxy.partition();
      scenario.history.fault("database partition", { links, partitionMs });
      await eventually(async () => (await status()) === HealthCheckResponse_ServingStatus.NOT_SERVING, {
        timeoutMs: 15_000,
        what: "grpc.health.v1 to report NOT_SERVING",
      });
      expect(await healthz()).toBe("503 not serving: database unreachable");
      // Liveness stays up: a broker restarted now would only wait for the same database.
      expect((await health.check({ service: "liveness" })).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      expect((await fetch(`${broker.url}/livez`)).status).toBe(200);

      // Known down: an RPC is refused without touching the database. Only that path answers
      // "database unreachable"; a request that waited on the database would have ended at the
      // query timeout as "database unavailable", and before the fix only once the partition
      // healed. The message proves it, no clock needed.
      const jobs = jobClient(broker.url);
      const refused = await jobs.enqueueJob({ queue, payload: new Uint8Array([1]) }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(refused).toBeInstanceOf(ConnectError);
      expect((refused as ConnectError).code).toBe(Code.Unavailable);
      expect((refused as ConnectError).rawMessage).toMatch(/^database unreachable; retry in \d+ s$/);
      await expect(jobs.getJob({ id: "1" })).rejects.toMatchObject({ code: Code.Unavailable });

      // Hold the partition for its whole length: a fault schedule, not a wait for an outcome.
      await sleep(partitionedAt + partitionMs - Date.now());
      proxy.heal();
      scenario.history.fault("database partition healed");
      await eventually(async () => (await status()) === HealthCheckResponse_ServingStatus.SERVING, {
        timeoutMs: 30_000,
        what: "grpc.health.v1 to report SERVING again",
      });
      expect(await healthz()).toBe("200 ok");

      await producing;
      await scenario.verify(databaseUrl, [queue], { timeoutMs: 90_000, notes: { partitionMs } });
      // Recovered by itself: the same process served before, during and after.
      expect(broker.process.child.exitCode).toBeNull();
      expect(broker.process.child.pid).toBe(pid);
      // The outage and its end are one line each, however many requests and loop ticks failed.
      const said = (prefix: string) => broker.process.events.filter((e) => String(e.msg).startsWith(prefix));
      expect(said("database unreachable")).toHaveLength(1);
      expect(said("database reachable again")).toHaveLength(1);
      expect(said("database reachable again")[0]!.outageMs).toBeGreaterThan(0);
      expect(said("request failed")).toHaveLength(0);
      // Loops that ran into the known outage (claims, renewals, the reaper) said nothing more.
      const failFast = broker.process.events.filter((e) => String((e.error as { message?: unknown } | undefined)?.message).startsWith("database unreachable"));
      expect(failFast).toEqual([]);
    }),
    timeoutMs(120_000),
  );
});
