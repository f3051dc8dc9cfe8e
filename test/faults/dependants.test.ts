/**
 * Fan-in under concurrent settlement: 200 dependants, each waiting for two jobs, run by four
 * workers on two broker processes, so the two settlements of a dependant's blockers are often
 * in flight together (on two brokers, or in the two settle statements one broker runs at
 * once). None may stay BLOCKED. The repair sweep is pushed out of the test's reach
 * (BATON_RETENTION_SWEEP_SECONDS): the settlements alone must unblock every dependant. Before
 * 0007_dependants.sql, 8 of the 200 stayed BLOCKED.
 */
import { afterAll, describe, expect, test } from "vitest";
import { createTestDatabase, sql } from "../helpers/database.js";
import { SEEDS, size, timeoutMs } from "./config.js";
import { inScenario } from "./harness.js";
import { flushSummary } from "./summary.js";

afterAll(() => flushSummary("dependants"));

describe.each(SEEDS)("seed %i", (seed) => {
  test(
    "200 fan-in dependants whose two blockers settle on two brokers at once: none stranded, nothing lost",
    inScenario("fan-in-concurrent", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const env = { BATON_RETENTION_SWEEP_SECONDS: "3600" };
      const [a, b] = [await scenario.brokerProcess(databaseUrl, { env }), await scenario.brokerProcess(databaseUrl, { env })];
      const queues = { blockers: `fan-blockers-${seed}`, dependants: `fan-dep-${seed}` };
      const producer = scenario.producer([a.url, b.url], true);
      const total = size(200);
      const batch = 50;
      // Every job exists before any worker starts, so each dependant really waits for both of
      // its blockers: two neighbours in the blocker queue, claimed close together and acked by
      // different workers (or in one turn by one, then split across settle statements).
      for (let sent = 0; sent < total; sent += batch) {
        const n = Math.min(batch, total - sent);
        const blockers = await producer.enqueue(queues.blockers, 2 * n);
        await producer.enqueue(queues.dependants, n, { dependsOn: Array.from({ length: n }, (_, i) => [blockers[2 * i]!, blockers[2 * i + 1]!]) });
      }
      const [{ n: blocked }] = (await sql<{ n: number }>(databaseUrl, "select count(*)::int as n from baton.jobs where queue = $1 and state = 'blocked'", [
        queues.dependants,
      ])) as [{ n: number }];
      expect(blocked).toBe(total);

      await Promise.all(
        [a, b, a, b].map((broker, i) =>
          scenario.worker({ urls: [broker.url], queues: [queues.blockers, queues.dependants], id: `w${i}`, concurrency: 16, workMs: "0-3" }),
        ),
      );
      const report = await scenario.verify(databaseUrl, Object.values(queues));
      expect(report.processed).toBe(3 * total);
      // Settlements lock dependants in id order, after their own rows: they queue, never deadlock.
      expect(report.deadlocks).toBe(0);
      expect(await sql(databaseUrl, "select id from baton.jobs where state = 'blocked'")).toEqual([]);
    }),
    timeoutMs(120_000),
  );
});
