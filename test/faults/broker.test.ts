/**
 * Broker faults: `baton serve` processes killed with SIGKILL while worker streams are open,
 * alone (then restarted on the same port) and as one of three replicas on one database.
 */
import { afterAll, describe, expect, test } from "vitest";
import { createTestDatabase, sql } from "../helpers/database.js";
import { SEEDS, size, timeoutMs } from "./config.js";
import { type BrokerProcess, inScenario, sleep, waitUntil } from "./harness.js";
import { flushSummary } from "./summary.js";

afterAll(() => flushSummary("broker"));

async function leasesOf(databaseUrl: string, replica: string) {
  return sql<{ id: string; lease_token: string; attempt: number }>(
    databaseUrl,
    "select id::text, lease_token::text, attempt from baton.jobs where state = 'leased' and lease_owner = $1",
    [replica],
  );
}

describe.each(SEEDS)("seed %i", (seed) => {
  test(
    "a broker killed with SIGKILL with streams open, then restarted: workers reconnect, expired leases are reaped, nothing lost",
    inScenario("broker-sigkill-restart", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      let broker = await scenario.brokerProcess(databaseUrl);
      const queue = `bkill-${seed}`;
      const urls = [broker.url];
      await scenario.workers(3, { urls, queues: [queue], id: "w", concurrency: 8, workMs: "5-60" });
      const total = size(400);
      const producing = scenario.producer(urls).run(queue, total, 20, 40);
      const kills = size(2);
      let orphaned = 0;
      for (let k = 0; k < kills; k++) {
        await scenario.reachFaultPoint(k, kills, total);
        broker.process.kill("SIGKILL");
        await broker.process.exited;
        scenario.history.fault("broker SIGKILL", { replica: broker.replica });
        orphaned += (await leasesOf(databaseUrl, broker.replica)).length;
        // Down for up to 1.5 leases (plus the restart): some leases outlive the outage and
        // take the workers' resent acks, others expire first and are reaped by the new process.
        const downMs = scenario.random.int(0, 3_000);
        await sleep(downMs);
        broker = await scenario.brokerProcess(databaseUrl, { port: broker.port });
        scenario.history.faults.at(-1)!.detail = { ...scenario.history.faults.at(-1)!.detail, downMs };
      }
      await producing;
      const report = await scenario.verify(databaseUrl, [queue], { notes: { leasesOrphanedByKills: orphaned } });
      expect(report.processed).toBe(total);
      expect(orphaned).toBeGreaterThan(0);
    }),
    timeoutMs(90_000),
  );

  test(
    "three replicas on one database, one killed with SIGKILL under load: nothing lost, its leases come back through the others' reapers",
    inScenario("replicas-kill-one", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const replicas = await Promise.all([0, 1, 2].map(() => scenario.brokerProcess(databaseUrl)));
      const queue = `replicas-${seed}`;
      const [b1, b2, b3] = replicas as [BrokerProcess, BrokerProcess, BrokerProcess];
      // Workers spread over the replicas. The victim's first worker is pinned to it (it keeps
      // trying the dead address), so the leases it holds can only come back by expiry; the
      // others fail over to the next replica and resend their outcomes there.
      await Promise.all([
        scenario.worker({ urls: [b1.url, b2.url], queues: [queue], id: "r1-a", concurrency: 6 }),
        scenario.worker({ urls: [b1.url, b3.url], queues: [queue], id: "r1-b", concurrency: 6 }),
        scenario.worker({ urls: [b2.url], queues: [queue], id: "r2-pinned", concurrency: 6, workMs: "200-600" }),
        scenario.worker({ urls: [b2.url, b3.url], queues: [queue], id: "r2-b", concurrency: 6 }),
        scenario.worker({ urls: [b3.url, b1.url], queues: [queue], id: "r3-a", concurrency: 6 }),
        scenario.worker({ urls: [b3.url, b2.url], queues: [queue], id: "r3-b", concurrency: 6 }),
      ]);
      const total = size(600);
      const producing = scenario.producer([b1.url, b2.url, b3.url], true).run(queue, total, 20, 30);
      const threshold = Math.floor(total / 3) + scenario.random.int(-20, 20);
      await waitUntil(() => scenario.confirmedAcks() >= threshold, `${threshold} acks`, 60_000);
      // The fault is about leases the victim holds: strike while it holds some (its pinned
      // worker's jobs take 200-600 ms), not at an instant a loaded machine left it idle.
      await waitUntil(async () => (await leasesOf(databaseUrl, b2.replica)).length > 0, "the victim to hold leases", 60_000);
      b2.process.kill("SIGKILL");
      await b2.process.exited;
      scenario.history.fault("replica SIGKILL", { replica: b2.replica });
      const orphans = await leasesOf(databaseUrl, b2.replica);
      await producing;
      const report = await scenario.verify(databaseUrl, [queue], { notes: { leasesOfKilledReplica: orphans.length } });
      expect(report.processed).toBe(total);

      // Each lease the dead replica held ended one of two ways: an ack resent through another
      // replica while the lease was still valid, or expiry, settled by a surviving reaper.
      expect(orphans.length).toBeGreaterThan(0);
      const finals = await sql<{ id: string; result: Buffer; errors: { attempt: number; message: string }[] }>(
        databaseUrl,
        "select id::text, result, errors from baton.jobs where id = any($1::bigint[])",
        [orphans.map((o) => o.id)],
      );
      let reaped = 0;
      for (const orphan of orphans) {
        const final = finals.find((f) => f.id === orphan.id)!;
        const winner = (JSON.parse(final.result.toString()) as { start: string }).start;
        const ended = final.errors.find((e) => e.attempt === orphan.attempt);
        if (winner === orphan.lease_token) continue;
        expect(ended?.message, `job ${orphan.id}, attempt ${orphan.attempt}`).toBe("lease expired");
        reaped++;
      }
      // The pinned worker held leases that nobody could settle, so some were reaped.
      expect(reaped).toBeGreaterThan(0);
      // Only the survivors reaped: the dead replica never came back.
      const survivors = [b1, b3].map((b) => b.process.events.filter((e) => e.msg === "settled expired leases").length);
      expect(survivors[0]! + survivors[1]!).toBeGreaterThan(0);
    }),
    timeoutMs(90_000),
  );
});
