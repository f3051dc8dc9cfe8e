import { afterEach, expect, test } from "vitest";
import { type Worker, createClient, runWorker } from "../clients/ts/src/index.js";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function waitForState(broker: TestBroker, id: string, state: JobState): Promise<void> {
  await eventually(async () => (await broker.jobs.getJob({ id })).job!.state === state, { what: `job ${id} to be ${JobState[state]}` });
}

test("runWorker reconnects after its broker restarts and keeps processing", async () => {
  const first = await startTestBroker();
  const port = first.server.port;
  const processed: string[] = [];
  const worker: Worker = runWorker({
    baseUrl: first.baseUrl,
    queues: ["restart"],
    minBackoffMs: 20,
    maxBackoffMs: 200,
    handler: (job) => {
      processed.push(job.id);
      return "ok";
    },
  });
  cleanup.push(() => worker.stop());
  const before = await createClient({ baseUrl: first.baseUrl }).enqueue("restart", "one");
  await waitForState(first, before.job.id, JobState.SUCCEEDED);
  await first.stop();

  const second = await startTestBroker({ port }, first.databaseUrl);
  cleanup.push(() => second.stop());
  const after = await createClient({ baseUrl: second.baseUrl }).enqueue("restart", "two");
  await waitForState(second, after.job.id, JobState.SUCCEEDED);
  expect(processed).toEqual([before.job.id, after.job.id]);
});

test("a handler that throws nacks the job, and its message becomes the job's error", async () => {
  const broker = await startTestBroker();
  cleanup.push(() => broker.stop());
  const worker = runWorker({
    baseUrl: broker.baseUrl,
    queues: ["throws"],
    handler: () => {
      throw new Error("no such recipient");
    },
  });
  cleanup.push(() => worker.stop());
  const { job } = await createClient({ baseUrl: broker.baseUrl }).enqueue("throws", "x", { maxAttempts: 1 });
  await waitForState(broker, job.id, JobState.DEAD);
  const dead = (await broker.jobs.getJob({ id: job.id })).job!;
  expect(dead.lastError).toBe("no such recipient");
  expect(dead.errors).toHaveLength(1);
});

test("a stream that stops answering pings is closed and its job released at once", async () => {
  const broker = await startTestBroker({ broker: { pingIntervalMs: 100 } });
  cleanup.push(() => broker.stop());
  const { job } = await broker.jobs.enqueueJob({ queue: "silent", maxAttempts: 3 });
  const silent = openStream(broker.workers, { case: "hello", value: { workerId: "mute", queues: ["silent"], maxInFlight: 1 } });
  expect((await silent.next("job")).job!.id).toBe(job!.id);
  // Never answers ping: after three periods the broker ends the stream and releases the job.
  const ended = await silent.ended;
  expect(String(ended)).toMatch(/did not answer pings/);
  const released = (await broker.jobs.getJob({ id: job!.id })).job!;
  expect(released.state).toBe(JobState.AVAILABLE);
  expect(released.lastError).toBe("worker stream went silent");
});

test("progress reports are stored while the job runs", async () => {
  const broker = await startTestBroker();
  cleanup.push(() => broker.stop());
  let release!: () => void;
  const reported = new Promise<void>((resolve) => {
    const worker = runWorker({
      baseUrl: broker.baseUrl,
      queues: ["progress"],
      handler: async (_job, { progress }) => {
        progress(40, "halfway there");
        resolve();
        await new Promise<void>((done) => (release = done));
        return "ok";
      },
    });
    cleanup.push(() => worker.stop());
  });
  const { job } = await broker.jobs.enqueueJob({ queue: "progress" });
  await reported;
  let current = (await broker.jobs.getJob({ id: job!.id })).job!;
  while (current.progressPercent !== 40) current = (await broker.jobs.getJob({ id: job!.id })).job!;
  expect(current.progressMessage).toBe("halfway there");
  release();
  await waitForState(broker, job!.id, JobState.SUCCEEDED);
});
