/**
 * Worker faults against one broker: SIGKILL under load, SIGSTOP past the lease (the late ack
 * is refused), a poison job that kills every worker that runs it, and a consumer that stops
 * reading its stream.
 */
import { afterAll, describe, expect, test } from "vitest";
import { startTestBroker } from "../helpers/broker.js";
import { sql } from "../helpers/database.js";
import { SEEDS, size, timeoutMs } from "./config.js";
import { Scenario, waitUntil } from "./harness.js";
import { flushSummary } from "./summary.js";

afterAll(() => flushSummary("workers"));

const confirmedAcks = (scenario: Scenario) => scenario.history.workerEvents().filter((e) => e.event === "settled" && e.ok).length;

describe.each(SEEDS)("seed %i", (seed) => {
  test(
    "workers killed with SIGKILL under load: nothing lost, every rerun explained by the ended stream",
    async () => {
      const scenario = new Scenario("worker-sigkill", seed);
      const broker = await startTestBroker({ broker: { leaseSeconds: 2, reapIntervalMs: 250 } });
      try {
        const queue = `kill-${seed}`;
        const urls = [broker.baseUrl];
        let workers = await Promise.all(
          [0, 1, 2].map((i) => scenario.worker({ urls, queues: [queue], id: `w${i}`, concurrency: 8, workMs: "5-40" })),
        );
        const total = size(400);
        const producing = scenario.producer(urls).run(queue, total, 20, 40);
        const kills = size(3);
        for (let k = 0; k < kills; k++) {
          // After a seeded share of the jobs is done, a seeded worker dies mid-flight.
          const threshold = Math.floor((total * (k + 1)) / (kills + 2)) + scenario.random.int(-10, 10);
          await waitUntil(() => confirmedAcks(scenario) >= threshold, `${threshold} acks`, 60_000);
          const victim = scenario.random.int(0, workers.length - 1);
          const doomed = workers[victim]!;
          doomed.kill("SIGKILL");
          scenario.history.fault("worker SIGKILL", { worker: victim });
          await doomed.exited;
          const replacement = await scenario.worker({ urls, queues: [queue], id: `w${victim}.${k + 1}`, concurrency: 8, workMs: "5-40" });
          workers = workers.map((w, i) => (i === victim ? replacement : w));
        }
        await producing;
        const report = await scenario.verify(broker.databaseUrl, [queue]);
        expect(report.processed).toBe(total);
      } finally {
        await scenario.cleanup();
        await broker.stop();
      }
    },
    timeoutMs(90_000),
  );
});

export { sql };
