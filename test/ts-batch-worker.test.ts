import { expect, test } from "vitest";
import { z } from "zod";
import { DeadLetterError, JobState, type WorkerOptions, createClient, defineJob, runWorker } from "../clients/ts/src/index.js";
import { type TestBroker, useClientBroker } from "./helpers/broker.js";
import { eventually } from "./helpers/wait.js";

/** The TypeScript worker's batch handlers: several jobs per call, each settled on its own. */
let broker: TestBroker;
let client: ReturnType<typeof createClient>;
const workers = useClientBroker((b, c) => ([broker, client] = [b, c]));

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

async function enqueueAll(queue: string, payloads: string[], maxAttempts = 1): Promise<string[]> {
  const enqueued = await client.enqueueManyIds(payloads.map((payload) => ({ queue, payload, maxAttempts })));
  return enqueued.map(({ id }) => id);
}

test("a batch handler gets several jobs at once and settles each with its own result or error", async () => {
  // Enqueued before the worker starts, so they are delivered together.
  const ids = await enqueueAll("batched", ["bad", ...Array.from({ length: 11 }, (_, i) => `ok-${i}`), "silent"]);
  const sizes: number[] = [];
  const refusals: string[] = [];
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["batched"],
      concurrency: 20,
      batch: {
        maxJobs: 13,
        maxWaitMs: 1000,
        handler: (jobs, batch) => {
          sizes.push(jobs.length);
          for (const job of jobs) {
            const payload = text(job.payload);
            if (payload === "bad") batch.fail(job, new DeadLetterError(`cannot handle ${payload}`));
            // Left unsettled: acked with no result when the handler returns.
            else if (payload !== "silent") batch.ack(job, `done ${payload}`);
          }
          for (const settleTwice of [() => batch.ack(jobs[0]!, "again"), () => batch.fail({ ...jobs[0]!, id: "0" }, new Error("a stranger"))]) {
            try {
              settleTwice();
            } catch (error) {
              refusals.push((error as Error).message);
            }
          }
        },
      },
    }),
  );
  const finished = await Promise.all(ids.map((id) => client.waitJob(id)));
  expect(Math.max(...sizes)).toBeGreaterThan(1);
  expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(13);
  expect(refusals.slice(0, 2)).toEqual([expect.stringMatching(/^job \d+ is settled already$/), "job 0 is not in this batch"]);
  const [bad, ...rest] = finished;
  expect(bad).toMatchObject({ state: JobState.DEAD, lastError: "cannot handle bad" });
  const silent = rest.pop()!;
  expect(silent.state).toBe(JobState.SUCCEEDED);
  expect(silent.result.length).toBe(0);
  expect(rest.map((job) => [job.state, text(job.result)])).toEqual(rest.map((_, i) => [JobState.SUCCEEDED, `done ok-${i}`]));
});

test("a batch handler that throws fails every job it did not settle, with its error", async () => {
  const ids = await enqueueAll("batched-throw", ["first", "second", "third"]);
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["batched-throw"],
      batch: {
        maxJobs: 3,
        maxWaitMs: 1000,
        handler: (jobs, batch) => {
          const first = jobs.find((job) => text(job.payload) === "first");
          if (first) batch.ack(first, "kept");
          throw new Error("the batch broke");
        },
      },
    }),
  );
  const [first, ...others] = await Promise.all(ids.map((id) => client.waitJob(id)));
  expect(first).toMatchObject({ state: JobState.SUCCEEDED });
  expect(text(first!.result)).toBe("kept");
  for (const job of others) expect(job).toMatchObject({ state: JobState.DEAD, lastError: "the batch broke" });
});

test("a batch holds one slot per job: batches never hold more jobs than the concurrency, and a full worker runs a short batch at once", async () => {
  const ids = await enqueueAll("batched-slots", Array.from({ length: 10 }, (_, i) => String(i)));
  const sizes: number[] = [];
  let running = 0;
  let mostRunning = 0;
  let openGate!: () => void;
  const gate = new Promise<void>((resolve) => (openGate = resolve));
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["batched-slots"],
      concurrency: 6,
      // Longer than the test may take: the batch of 2 can only start because all 6 slots are taken.
      batch: {
        maxJobs: 4,
        maxWaitMs: 600_000,
        handler: async (jobs) => {
          sizes.push(jobs.length);
          running += jobs.length;
          mostRunning = Math.max(mostRunning, running);
          if (running === 6) openGate();
          await gate;
          running -= jobs.length;
        },
      },
    }),
  );
  await Promise.all(ids.map((id) => client.waitJob(id)));
  expect(mostRunning).toBe(6);
  expect(sizes.slice(0, 2)).toEqual([4, 2]);
  expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(10);
});

test("a stopping worker runs its waiting batches at once: no delivery can fill them any more", async () => {
  const [id] = await enqueueAll("batched-stop", ["alone"]);
  const worker = runWorker({
    baseUrl: broker.baseUrl,
    queues: ["batched-stop"],
    // Longer than the test may take: the batch of one can only run because the worker stops.
    batch: { maxJobs: 5, maxWaitMs: 600_000, handler: () => undefined },
  });
  await eventually(async () => (await client.getJob(id!)).state === JobState.LEASED, { what: "the job to be delivered" });
  await worker.stop();
  expect(await client.getJob(id!)).toMatchObject({ state: JobState.SUCCEEDED });
});

test("a job whose lease is lost while it waits for its batch leaves the batch: no handler sees it", async () => {
  const [lost] = await client.enqueueManyIds([{ queue: "batched-lost", payload: "lost", maxAttempts: 1, timeoutMs: 300 }]);
  const seen: string[][] = [];
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["batched-lost"],
      concurrency: 2,
      // Longer than the test may take: only two live jobs can fill the batch.
      batch: { maxJobs: 2, maxWaitMs: 600_000, handler: (jobs) => void seen.push(jobs.map((job) => text(job.payload))) },
    }),
  );
  // The attempt times out while the job waits for a second one; the broker takes its lease.
  expect(await client.waitJob(lost!.id)).toMatchObject({ state: JobState.DEAD, lastError: "attempt timed out" });
  // Delivered on the same stream after the lease loss, so they find the batch without the lost job.
  const ids = await enqueueAll("batched-lost", ["first", "second"]);
  await Promise.all(ids.map((id) => client.waitJob(id)));
  expect(seen).toEqual([["first", "second"]]);
});

test("a batch job's context carries its own continuations: the next job joins its chain", async () => {
  const [id] = await enqueueAll("batched-context", ["start"]);
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["batched-context", "batched-next"],
      batch: {
        maxJobs: 5,
        maxWaitMs: 0,
        handler: (jobs, batch) => {
          for (const job of jobs) if (job.queue === "batched-context") batch.of(job).continueWith({ queue: "batched-next", payload: "next" });
        },
      },
    }),
  );
  await client.waitJob(id!);
  let nextId: string | undefined;
  await eventually(
    async () => {
      nextId = (await client.jobs.listJobs({ chainId: id! })).jobs.find((job) => job.parentId === id)?.id;
      return nextId !== undefined;
    },
    { what: "the continuation" },
  );
  expect(await client.waitJob(nextId!)).toMatchObject({ state: JobState.SUCCEEDED, queue: "batched-next", chainId: id });
});

test("a typed batch handler gets parsed payloads: a bad payload ends DEAD unseen, a bad result fails its job only", async () => {
  const squares = defineJob({ queue: "batched-typed", payload: z.object({ n: z.number() }), result: z.object({ square: z.number().max(100) }) });
  const ids = [
    ...(await Promise.all([2, 3, 50].map(async (n) => (await squares.enqueue(client, { n }, { maxAttempts: 1 })).job.id))),
    (await client.enqueue(squares.queue, { n: "four" }, { maxAttempts: 1 })).job.id,
  ];
  const seen: unknown[] = [];
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: [squares.queue],
      batch: {
        maxJobs: 4,
        maxWaitMs: 1000,
        handler: squares.batchHandler((jobs, batch) => {
          for (const { job, payload } of jobs) {
            seen.push(payload);
            void batch.ack(job, { square: payload.n * payload.n });
          }
        }),
      },
    }),
  );
  const [two, three, fifty, four] = await Promise.all(ids.map((id) => client.waitJob(id)));
  expect(await squares.parseResult(two!)).toEqual({ square: 4 });
  expect(await squares.parseResult(three!)).toEqual({ square: 9 });
  expect(fifty).toMatchObject({ state: JobState.DEAD });
  expect(fifty!.lastError).toMatch(/^invalid batched-typed result of job \d+: square: /);
  expect(four).toMatchObject({ state: JobState.DEAD });
  expect(four!.lastError).toMatch(/^invalid batched-typed payload of job \d+: n: /);
  expect(seen).toEqual(expect.arrayContaining([{ n: 2 }, { n: 3 }, { n: 50 }]));
  expect(seen).toHaveLength(3);
});

test("batch options a worker cannot honour are refused, naming the option", () => {
  const handler = () => undefined;
  const start = (options: Partial<WorkerOptions>) => () => runWorker({ baseUrl: broker.baseUrl, queues: ["never"], ...options });
  expect(start({ concurrency: 10, batch: { maxJobs: 0, handler } })).toThrow("batch.maxJobs must be an integer from 1 to the worker's concurrency (10), got 0");
  expect(start({ concurrency: 10, batch: { maxJobs: 11, handler } })).toThrow("batch.maxJobs must be an integer from 1 to the worker's concurrency (10), got 11");
  expect(start({ batch: { maxJobs: 2.5, handler } })).toThrow(/batch\.maxJobs must be an integer .* got 2\.5/);
  expect(start({ batch: { maxJobs: 2, maxWaitMs: -1, handler } })).toThrow("batch.maxWaitMs must be a finite number of milliseconds, at least 0, got -1");
  expect(start({ batch: { maxJobs: 2, maxWaitMs: Number.POSITIVE_INFINITY, handler } })).toThrow(/batch\.maxWaitMs must be a finite number/);
  expect(start({ batch: { maxJobs: 2, handler: undefined as never } })).toThrow("batch.handler must be a function");
  expect(start({ handler, batch: { maxJobs: 2, handler } })).toThrow("runWorker needs exactly one of handler and batch");
  expect(start({})).toThrow("runWorker needs exactly one of handler and batch");
});
