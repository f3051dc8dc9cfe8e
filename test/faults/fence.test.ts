/**
 * The fence at protocol level, with raw streams: what each ack is told.
 */
import { describe, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "../helpers/broker.js";
import { openStream } from "../helpers/stream.js";
import { SEEDS, timeoutMs } from "./config.js";

describe.each(SEEDS)("seed %i", (seed) => {
  // Regression: settlements used to be answered by job id, so a stale ack sharing a batch with
  // the valid ack of the same job was told ok=true too. They are keyed by id and lease token.
  test(
    "a stale ack batched with the valid ack of the same job is refused, not confirmed",
    async () => {
      const broker = await startTestBroker();
      try {
        const { job, stale, second, current } = await redeliver(broker, `fence-${seed}`);
        expect([stale.job!.attempt, current.job!.attempt]).toEqual([1, 2]);
        // Both acks in one write, so they settle in one batch.
        second.send({ case: "ack", value: { jobId: job!.id, leaseToken: stale.leaseToken } });
        second.send({ case: "ack", value: { jobId: job!.id, leaseToken: current.leaseToken } });
        const answers = [await second.next("settled"), await second.next("settled")];
        second.close();
        expect(answers.map((a) => a.ok).sort()).toEqual([false, true]);
      } finally {
        await broker.stop();
      }
    },
    timeoutMs(30_000),
  );

  test(
    "a stale ack alone is refused with the reason and changes nothing",
    async () => {
      const broker = await startTestBroker();
      try {
        const { job, stale, second, current } = await redeliver(broker, `fence-alone-${seed}`);
        second.send({ case: "ack", value: { jobId: job!.id, leaseToken: stale.leaseToken } });
        const refused = await second.next("settled");
        expect(refused).toMatchObject({ jobId: job!.id, ok: false });
        expect(refused.error).toMatch(/stale lease token/);
        second.send({ case: "ack", value: { jobId: job!.id, leaseToken: current.leaseToken } });
        expect(await second.next("settled")).toMatchObject({ jobId: job!.id, ok: true });
        second.close();
        const { job: done } = await broker.jobs.getJob({ id: job!.id });
        expect(done!.attempt).toBe(2);
        expect(done!.errors.map((e) => e.message)).toEqual(["worker stream ended"]);
      } finally {
        await broker.stop();
      }
    },
    timeoutMs(30_000),
  );
});

/**
 * Enqueues one job and has it delivered twice: to a first stream that ends cleanly (which
 * releases the lease at once), then as attempt 2 to a second stream, left open. Returns the job,
 * both deliveries and the open stream.
 */
async function redeliver(broker: TestBroker, queue: string) {
  const { job } = await broker.jobs.enqueueJob({ queue });
  const first = openStream(broker.workers, { case: "hello", value: { workerId: "a", queues: [queue], maxInFlight: 1 } });
  const stale = await first.next("job");
  first.close();
  await first.ended;
  const second = openStream(broker.workers, { case: "hello", value: { workerId: "b", queues: [queue], maxInFlight: 1 } });
  const current = await second.next("job");
  return { job, stale, second, current };
}
