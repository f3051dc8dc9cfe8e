/**
 * Worker faults against one broker: SIGKILL under load, SIGSTOP past the lease (the late ack
 * is refused), a poison job that kills every worker that runs it, a consumer that stops
 * reading its stream, one that stops reading but floods acks, and hellos with a NUL byte in
 * worker_id while honest workers run.
 */
import { readFileSync } from "node:fs";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, describe, expect, test } from "vitest";
import { Health, HealthCheckResponse_ServingStatus } from "../../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import type { TestBroker } from "../helpers/broker.js";
import { createTestDatabase, sql } from "../helpers/database.js";
import { SEEDS, size, timeoutMs } from "./config.js";
import { type BrokerProcess, type Scenario, inScenario, keepaliveBroker, waitUntil } from "./harness.js";
import { frame, rawSubscribe } from "./raw-stream.js";
import { flushSummary } from "./summary.js";

afterAll(() => flushSummary("workers"));

describe.each(SEEDS)("seed %i", (seed) => {
  test(
    "workers killed with SIGKILL under load: nothing lost, every rerun explained by the ended stream",
    inScenario("worker-sigkill", seed, async (scenario) => {
      const broker = await scenario.testBroker({ broker: { leaseSeconds: 2, reapIntervalMs: 250 } });
      const queue = `kill-${seed}`;
      const urls = [broker.baseUrl];
      let workers = await scenario.workers(3, { urls, queues: [queue], id: "w", concurrency: 8, workMs: "5-40" });
      const total = size(400);
      const producing = scenario.producer(urls).run(queue, total, 20, 40);
      const kills = size(3);
      for (let k = 0; k < kills; k++) {
        // After a seeded share of the jobs is done, a seeded worker dies mid-flight.
        await scenario.reachFaultPoint(k, kills, total);
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
    }),
    timeoutMs(90_000),
  );

  test(
    "a worker paused with SIGSTOP past its lease: keepalive ends its stream, the job reruns elsewhere, the late ack is refused",
    inScenario("worker-sigstop-keepalive", seed, async (scenario) => {
      // HTTP/2 keepalive notices the frozen peer within half a second, and ends its stream.
      const broker = await scenario.testBroker(keepaliveBroker(250));
      const queue = `stop-ka-${seed}`;
      const { row } = await pauseAndResume(scenario, broker, queue);
      // The stream broke while the worker was frozen; its ack went out again on a new stream.
      expect(row.errors.map((e) => e.message)).toEqual(["worker stream ended"]);
      await scenario.verify(broker.databaseUrl, [queue]);
    }),
    timeoutMs(60_000),
  );

  test(
    "a worker paused with SIGSTOP while its stream stays open: the attempt times out, and the late ack on the same stream is refused",
    inScenario("worker-sigstop-timeout", seed, async (scenario) => {
      // Nothing notices the frozen worker at the connection level for a minute, so its stream
      // stays open and its lease keeps being renewed: only the attempt's timeout ends it.
      const broker = await scenario.testBroker(keepaliveBroker(60_000, { retryPolicy: { baseDelaySeconds: 0.05, maxDelaySeconds: 0.2 } }));
      const queue = `stop-to-${seed}`;
      const { paused, row } = await pauseAndResume(scenario, broker, queue, 1_000);
      // Sent once, on the stream that delivered the job, which never broke.
      const acks = paused.events.filter((e) => e.event === "ack" && e.id === row.id);
      expect(acks).toHaveLength(1);
      expect(acks[0]!.resent).toBe(false);
      expect(paused.events.some((e) => e.event === "disconnected")).toBe(false);
      expect(paused.events.some((e) => e.event === "lease_lost" && e.id === row.id)).toBe(true);
      expect(row.errors.map((e) => e.message)).toEqual(["attempt timed out"]);
      await scenario.verify(broker.databaseUrl, [queue]);
    }),
    timeoutMs(60_000),
  );

  test(
    "a poison job that kills every worker running it ends DEAD after max_attempts; the broker stays healthy",
    inScenario("poison-job", seed, async (scenario) => {
      const broker = await scenario.testBroker({ broker: { leaseSeconds: 2, reapIntervalMs: 250 } });
      const health = createClient(Health, createGrpcTransport({ baseUrl: broker.baseUrl }));
      let stopping = false;
      let crashes = 0;
      const urls = [broker.baseUrl];
      const queue = `poison-${seed}`;
      // A process manager: each slot restarts its worker when it dies.
      const slots = [0, 1].map(async (slot) => {
        for (let generation = 0; !stopping; generation++) {
          // A worker still starting when the test ends is killed by the cleanup before it is ready.
          const worker = await scenario
            .worker({ urls, queues: [queue], id: `p${slot}.${generation}`, concurrency: 5, workMs: "5-30" })
            .catch((error: unknown) => {
              if (stopping) return undefined;
              throw error;
            });
          if (!worker) return;
          const code = await worker.exited;
          if (stopping) return;
          crashes++;
          scenario.history.fault("worker crashed by poison job", { exit: code });
        }
      });
      // The slots end once the cleanup has killed their workers, before the broker stops.
      scenario.onCleanup(() => Promise.all(slots));
      try {
        const producer = scenario.producer(urls);
        const normal = producer.run(queue, size(100), 10, 30);
        const [poison] = await producer.enqueue(queue, 1, { poison: true, maxAttempts: 3, expect: "dead" });
        await normal;
        await waitUntil(async () => (await broker.jobs.getJob({ id: poison! })).job!.lastError !== "" && crashes >= 3, "three crashes");
        await producer.run(queue, size(30), 10, 0);
        const report = await scenario.verify(broker.databaseUrl, [queue]);
        expect(report.dead).toBe(1);
        const [row] = await sql<{ state: string; attempt: number; errors: { message: string }[] }>(
          broker.databaseUrl,
          "select state::text, attempt, errors from baton.jobs where id = $1",
          [poison],
        );
        expect(row).toMatchObject({ state: "dead", attempt: 3 });
        expect(row!.errors.map((e) => e.message)).toEqual(["worker stream ended", "worker stream ended", "worker stream ended"]);
        expect(crashes).toBe(3);
        expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      } finally {
        // Before the cleanup kills the workers, so that no slot takes their deaths for crashes.
        stopping = true;
      }
    }),
    timeoutMs(60_000),
  );

  test(
    "a consumer that stops reading its stream gets no more than max_in_flight jobs, however much credit it sends",
    inScenario("slow-consumer", seed, async (scenario) => {
      const broker = await scenario.testBroker({ broker: { pingIntervalMs: 300 } });
      const maxInFlight = 5;
      const queue = `slow-${seed}`;
      const urls = [broker.baseUrl];
      const consumer = rawSubscribe(broker.baseUrl);
      scenario.onCleanup(() => consumer.close());
      consumer.send({ case: "hello", value: { workerId: "slow-consumer", queues: [queue], maxInFlight } });
      scenario.history.fault("consumer stops reading");
      // Hostile: credit far beyond max_in_flight, and pongs sent blind to keep the stream alive.
      for (let i = 0; i < 100; i++) consumer.send({ case: "credit", value: { n: 1_000_000 } });
      const keepAlive = setInterval(() => consumer.send({ case: "pong", value: {} }), 200);
      const producer = scenario.producer(urls);
      const total = size(200);
      await producer.enqueue(queue, total);
      // Once the slow consumer holds its share, a normal worker takes everything else.
      await waitUntil(async () => (await leased(broker, queue)) === maxInFlight, `${maxInFlight} jobs leased to the slow consumer`);
      await scenario.worker({ urls, queues: [queue], id: "normal", concurrency: 20, workMs: "1-5" });
      await waitUntil(async () => (await succeeded(broker, queue)) === total - maxInFlight, "every other job to succeed");
      // More work and more credit while the consumer still reads nothing.
      await producer.enqueue(queue, size(50));
      for (let i = 0; i < 100; i++) consumer.send({ case: "credit", value: { n: 1_000_000 } });
      await waitUntil(async () => (await succeeded(broker, queue)) === total + size(50) - maxInFlight, "the later jobs to succeed");
      expect(await leased(broker, queue)).toBe(maxInFlight);
      const { workers } = await broker.workers.listWorkers({ queue });
      expect(workers.find((w) => w.workerId === "slow-consumer")).toMatchObject({ inFlight: maxInFlight, maxInFlight });

      // Now read. Everything the broker queued for this stream arrives in order; an ack's
      // answer marks the point after which the backlog has been read.
      consumer.read();
      const deliveries = await consumer.until((r) => r.message.case === "job", maxInFlight);
      const first = deliveries[0]!.message.value as { job: { id: string; attempt: number; payload: Uint8Array }; leaseToken: string };
      consumer.send({ case: "ack", value: { jobId: first.job.id, leaseToken: first.leaseToken, result: result("slow-consumer", first.leaseToken, first.job.attempt) } });
      await consumer.until((r) => r.message.case === "settled", 1);
      const backlog = consumer.received.slice(0, consumer.received.findIndex((r) => r.message.case === "settled"));
      const kinds = count(backlog.map((r) => r.message.case ?? "empty"));
      expect(kinds.job).toBe(maxInFlight);
      expect(Object.keys(kinds).sort()).toEqual(["job", "ping", "welcome"]);
      for (const r of backlog.filter((r) => r.message.case === "job")) {
        const d = r.message.value as { job: { id: string; attempt: number; payload: Uint8Array }; leaseToken: string };
        const nonce = (JSON.parse(new TextDecoder().decode(d.job.payload)) as { nonce: string }).nonce;
        scenario.history.record({ event: "start", worker: "slow-consumer", id: d.job.id, attempt: d.job.attempt, lease: d.leaseToken, nonce });
      }
      clearInterval(keepAlive);
      consumer.close();
      // Its other jobs go back when the stream ends, and the normal worker runs them.
      await scenario.verify(broker.databaseUrl, [queue], {
        notes: { maxInFlight, creditGranted: 200 * 1_000_000, deliveriesWhileNotReading: kinds.job, pingsQueued: kinds.ping ?? 0 },
      });
    }),
    timeoutMs(60_000),
  );
  test(
    "a consumer that never reads but floods acks does not disturb the other workers",
    inScenario("ack-flood-no-read", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const broker = await scenario.brokerProcess(databaseUrl, { env: { BATON_PING_SECONDS: "60" } });
      const queue = `flood-${seed}`;
      const urls = [broker.url];
      await scenario.worker({ urls, queues: [queue], id: "normal", concurrency: 8 });
      const producing = scenario.producer(urls).run(queue, size(100), 20, 20);
      scenario.history.fault("consumer floods acks without reading");
      // Its own queue: a job delivered to a stream that never reads stays leased while it lives.
      const flooded = await flood(broker, `${queue}-flooder`, 4);
      await producing;
      await scenario.verify(databaseUrl, [queue], { notes: flooded });
      expect(broker.process.child.exitCode).toBeNull();
    }),
    timeoutMs(60_000),
  );

  // Regression: a NUL byte in hello.worker_id made the worker-registry write fail, and the
  // lease renewal of every stream waited on that write: honest workers lost their leases
  // mid-job and their acks were refused. The hello is now refused, and renewal never depends
  // on the registry.
  test(
    "hellos with a NUL byte in worker_id while honest workers run long jobs: nothing lost, no honest ack refused",
    inScenario("nul-worker-id", seed, async (scenario) => {
      // Jobs outlive the lease: they only finish if renewal keeps going.
      const broker = await scenario.testBroker({ broker: { leaseSeconds: 1, reapIntervalMs: 200 } });
      const queue = `nul-${seed}`;
      const urls = [broker.baseUrl];
      await scenario.workers(2, { urls, queues: [queue], id: "honest", concurrency: 8, workMs: "1200-2500" });
      const total = size(40);
      const producing = scenario.producer(urls).run(queue, total, 8, 300);
      const attacks = size(5);
      for (let k = 0; k < attacks; k++) {
        await waitUntil(() => scenario.confirmedAcks() >= Math.floor((total * k) / (attacks + 1)), `${k} attack points`, 60_000);
        const stream = rawSubscribe(broker.baseUrl);
        scenario.onCleanup(() => stream.close());
        stream.send({ case: "hello", value: { workerId: `evil\0${k}`, queues: [queue], maxInFlight: 8 } });
        scenario.history.fault("hello with a NUL byte in worker_id", { attack: k });
      }
      await producing;
      const report = await scenario.verify(broker.databaseUrl, [queue], { notes: { attacks } });
      expect(report.processed).toBe(total);
      const refused = scenario.history.workerEvents().filter((e) => e.event === "settled" && !e.ok);
      expect(refused).toEqual([]);
    }),
    timeoutMs(90_000),
  );

  // Regression: the stream's read loop used to ignore its outbox, so a consumer that stops
  // reading but keeps writing made the broker buffer one reply per request without bound. The
  // loop now waits for room, and HTTP/2 flow control holds the writer back.
  test(
    "a consumer that never reads cannot make the broker buffer replies without bound",
    inScenario("flood-bounded", seed, async (scenario) => {
      const databaseUrl = await createTestDatabase();
      const broker = await scenario.brokerProcess(databaseUrl, { env: { BATON_PING_SECONDS: "60" } });
      const { bytesAccepted, brokerRssGrowthMb } = await flood(broker, `flood-bound-${seed}`, 8);
      // Either the broker stops reading (flow control then holds the consumer back) or its
      // memory stays flat; 4 MB of acks would already be ~80,000 buffered replies.
      expect(bytesAccepted).toBeLessThan(4 * 1024 * 1024);
      expect(brokerRssGrowthMb).toBeLessThan(64);
    }),
    timeoutMs(60_000),
  );
});

/**
 * Starts a worker with concurrency 1, gives it a slow job, freezes it with SIGSTOP once the
 * handler runs, lets a second worker finish the job, then thaws the first, whose late ack must
 * be refused. Returns the frozen worker and the job's row.
 */
async function pauseAndResume(scenario: Scenario, broker: TestBroker, queue: string, attemptTimeoutMs?: number) {
  const urls = [broker.baseUrl];
  const paused = await scenario.worker({ urls, queues: [queue], id: "paused", concurrency: 1 });
  const producer = scenario.producer(urls);
  const [slow] = await producer.enqueue(queue, 1, { workMs: 1_500, slowOnce: true, timeoutMs: attemptTimeoutMs });
  const started = await paused.waitFor((e) => e.event === "start" && e.id === slow);
  paused.kill("SIGSTOP");
  scenario.history.fault("worker SIGSTOP", { worker: "paused" });
  await scenario.worker({ urls, queues: [queue], id: "rescuer", concurrency: 4 });
  await producer.run(queue, size(40), 10, 20);
  await waitUntil(async () => (await broker.jobs.getJob({ id: slow! })).job!.finishTime !== undefined, "the slow job to finish elsewhere");
  paused.kill("SIGCONT");
  scenario.history.fault("worker SIGCONT", { worker: "paused" });
  const late = await paused.waitFor((e) => e.event === "settled" && e.id === slow && e.start === started.lease);
  expect(late.ok).toBe(false);
  expect(late.error).toMatch(/stale lease token|no longer leased/);
  const [row] = await sql<{ id: string; state: string; errors: { attempt: number; message: string }[] }>(
    broker.databaseUrl,
    "select id::text, state::text, errors from baton.jobs where id = $1",
    [slow],
  );
  expect(row!.state).toBe("succeeded");
  return { paused, row: row! };
}

/**
 * Opens a stream that never reads and writes `megabytes` of acks for a lease it does not hold,
 * one chunk at a time as fast as HTTP/2 flow control lets it; stops early once the broker
 * takes no more bytes for 1.5 s. Returns how much the broker accepted and how its resident
 * memory grew.
 */
async function flood(broker: BrokerProcess, queue: string, megabytes: number) {
  const pid = broker.process.child.pid!;
  const rssBefore = rssMb(pid);
  const consumer = rawSubscribe(broker.url);
  try {
    consumer.send({ case: "hello", value: { workerId: "flood", queues: [queue], maxInFlight: 1 } });
    const ack = frame({ case: "ack", value: { jobId: "1", leaseToken: "00000000-0000-4000-8000-000000000000" } });
    const chunk = Buffer.concat(Array.from({ length: 2048 }, () => ack));
    const target = megabytes * 1024 * 1024;
    let accepted = 0;
    let stalled = false;
    let progressAt = Date.now();
    const writing = (async () => {
      while (!stalled && accepted < target) {
        await consumer.write(chunk);
        accepted += chunk.length;
        progressAt = Date.now();
      }
    })();
    await waitUntil(() => accepted >= target || Date.now() - progressAt > 1_500, "the flood to end or stall", 45_000, 100);
    stalled = accepted < target;
    if (!stalled) await writing;
    return { bytesAttempted: target, bytesAccepted: accepted, stalled, brokerRssGrowthMb: Math.round(rssMb(pid) - rssBefore) };
  } finally {
    consumer.close();
  }
}

/** Resident memory of a process, in MiB (Linux). */
function rssMb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;
}

async function leased(broker: TestBroker, queue: string): Promise<number> {
  const [row] = await sql<{ n: number }>(broker.databaseUrl, "select count(*)::int as n from baton.jobs where queue = $1 and state = 'leased'", [queue]);
  return row!.n;
}

async function succeeded(broker: TestBroker, queue: string): Promise<number> {
  const [row] = await sql<{ n: number }>(broker.databaseUrl, "select count(*)::int as n from baton.jobs where queue = $1 and state = 'succeeded'", [queue]);
  return row!.n;
}

function result(worker: string, start: string, attempt: number): Uint8Array {
  return new TextEncoder().encode(JSON.stringify({ worker, start, attempt }));
}

function count(items: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) counts[item] = (counts[item] ?? 0) + 1;
  return counts;
}
