import { execFileSync } from "node:child_process";
import { type Server, type Socket, createServer, connect } from "node:net";
import path from "node:path";
import { expect, test } from "vitest";
import { z } from "zod";
import {
  DeadLetterError,
  InvalidPayloadError,
  JobState,
  MAX_PAGE_SIZE,
  RetryAfterError,
  allPages,
  createClient,
  defineJob,
  runWorker,
} from "../clients/ts/src/index.js";
import { MAX_PAGE_SIZE as BROKER_MAX_PAGE_SIZE } from "../src/api/page-token.js";
import { JobView } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { type TestBroker, useClientBroker } from "./helpers/broker.js";
import { root } from "./polyglot/toolchains.js";

/** The TypeScript client's own features: typed jobs, burst mode, waitJob, resume, the package. */
let broker: TestBroker;
let client: ReturnType<typeof createClient>;
const workers = useClientBroker((b, c) => ([broker, client] = [b, c]));

const resize = defineJob({
  queue: "resize",
  payload: z.object({ image: z.string().min(1), width: z.number().int().positive() }),
  result: z.object({ bytes: z.number() }),
});

test("a typed job validates before enqueue, hands the handler the parsed payload, and its result parses", async () => {
  await expect(resize.enqueue(client, { image: "", width: -1 })).rejects.toThrow(InvalidPayloadError);
  await expect(resize.enqueue(client, { image: "", width: -1 })).rejects.toThrow(/image: .*\bwidth: /);

  const seen: unknown[] = [];
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: [resize.queue],
      handler: resize.handler((payload) => {
        seen.push(payload);
        return { bytes: payload.width * 10 };
      }),
    }),
  );
  const { job } = await resize.enqueue(client, { image: "cat.png", width: 64 });
  const done = await client.waitJob(job.id);
  expect(done.state).toBe(JobState.SUCCEEDED);
  expect(await resize.parseResult(done)).toEqual({ bytes: 640 });
  expect(seen).toEqual([{ image: "cat.png", width: 64 }]);

  // A payload that bypassed the producer's check (another client, raw bytes) fails for good.
  const { job: bad } = await client.enqueue(resize.queue, { image: 3 }, { maxAttempts: 5 });
  const dead = await client.waitJob(bad.id);
  expect(dead).toMatchObject({ state: JobState.DEAD, attempt: 1 });
  expect(dead.lastError).toMatch(/invalid resize payload of job \d+: image: /);
});

test("RetryAfterError sets the next attempt's delay and DeadLetterError ends the job", async () => {
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["steered"],
      handler: (job) => {
        const kind = new TextDecoder().decode(job.payload);
        if (kind === "later" && job.attempt === 1) throw new RetryAfterError("busy", 10);
        if (kind === "never") throw new DeadLetterError("no such recipient");
        return "ok";
      },
    }),
  );
  const [later, never] = await client.enqueueMany([
    { queue: "steered", payload: "later", maxAttempts: 3 },
    { queue: "steered", payload: "never", maxAttempts: 3 },
  ]);
  expect(await client.waitJob(later!.job.id)).toMatchObject({ state: JobState.SUCCEEDED, attempt: 2 });
  expect(await client.waitJob(never!.job.id)).toMatchObject({ state: JobState.DEAD, attempt: 1, lastError: "no such recipient" });
});

test("continueWith keeps the chain: the next job has the root's chain id and its parent's id", async () => {
  workers.push(
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["chain-a", "chain-b"],
      handler: (job, { continueWith }) => {
        if (job.queue === "chain-a") continueWith({ queue: "chain-b", payload: "next" });
        return job.queue;
      },
    }),
  );
  const { job: first } = await client.enqueue("chain-a", "start");
  await client.waitJob(first.id);
  const { jobs } = await client.jobs.listJobs({ chainId: first.id });
  const next = jobs.find((job) => job.parentId === first.id);
  expect(next).toMatchObject({ queue: "chain-b", chainId: first.id });
  expect(await client.waitJob(next!.id)).toMatchObject({ state: JobState.SUCCEEDED });
});

test("in burst mode the worker is done once its queue is drained", async () => {
  await client.enqueueMany(Array.from({ length: 30 }, (_, i) => ({ queue: "burst", payload: String(i) })));
  const processed = new Set<string>();
  const worker = runWorker({
    baseUrl: broker.baseUrl,
    queues: ["burst"],
    concurrency: 4,
    burst: true,
    burstIdleMs: 300,
    handler: (job) => void processed.add(job.id),
  });
  await worker.done;
  expect(processed.size).toBe(30);
});

test("a dropped connection resumes the running job's lease: it finishes once, on attempt 1", async () => {
  const proxy = await startProxy(broker.server.port);
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const aborts: unknown[] = [];
  const worker = runWorker({
    baseUrl: `http://127.0.0.1:${proxy.port}`,
    queues: ["resumed"],
    minBackoffMs: 10,
    resumeGraceMs: 10_000,
    handler: async (job, { signal }) => {
      if (new TextDecoder().decode(job.payload) !== "held") return "ok";
      signal.addEventListener("abort", () => aborts.push(signal.reason));
      started();
      await released;
      return "held ok";
    },
  });
  workers.push(worker);
  const { job } = await client.enqueue("resumed", "held");
  await running;
  proxy.cut();
  // A job enqueued after the cut is taken: the worker is back on a new stream.
  const { job: later } = await client.enqueue("resumed", "later");
  expect(await client.waitJob(later.id)).toMatchObject({ state: JobState.SUCCEEDED });
  release();
  expect(await client.waitJob(job.id)).toMatchObject({ state: JobState.SUCCEEDED, attempt: 1 });
  expect(aborts).toEqual([]);
  await worker.stop();
  proxy.close();
});

test("the package builds to dist with an exports map and packs only its build", () => {
  const clientDir = path.join(root, "clients/ts");
  execFileSync("npm", ["run", "build"], { cwd: clientDir, stdio: "ignore" });
  const exported = execFileSync(process.execPath, ["--input-type=module", "-e", 'console.log(Object.keys(await import("@baton/client")).sort().join(","))'], {
    cwd: root,
    encoding: "utf8",
  });
  expect(exported.trim().split(",")).toEqual(expect.arrayContaining(["createClient", "defineJob", "runWorker", "JobState"]));
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: clientDir, encoding: "utf8" })) as {
    files: { path: string }[];
  }[];
  const files = packed!.files.map((file) => file.path);
  expect(files).toContain("dist/index.d.ts");
  expect(files.every((file) => file.startsWith("dist/") || file === "package.json" || file === "README.md")).toBe(true);
}, 120_000);

/** A TCP proxy to the broker whose connections can all be cut at once. */
async function startProxy(targetPort: number): Promise<{ port: number; cut(): void; close(): void }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(targetPort, "127.0.0.1");
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as { port: number }).port,
    cut,
    close: () => {
      cut();
      server.close();
    },
  };
}

test("enqueueManyIds answers only ids, in request order, and flags a deduplicated job with the existing id", async () => {
  const { job: existing } = await client.enqueue("ids", "first", { dedupKey: "once" });
  const answered = await client.enqueueManyIds([
    { queue: "ids", payload: "a" },
    { queue: "ids", payload: "again", dedupKey: "once" },
    { queue: "ids", payload: "b", priority: 3 },
  ]);
  expect(answered.map((a) => a.deduplicated)).toEqual([false, true, false]);
  expect(answered[1]!.id).toBe(existing.id);
  const stored = await Promise.all(answered.map((a) => client.getJob(a.id)));
  expect(stored.map((job) => new TextDecoder().decode(job.payload))).toEqual(["a", "first", "b"]);
  expect(stored[2]!.priority).toBe(3);
  const raw = await client.jobs.enqueueJobs({ jobs: [{ queue: "ids" }], view: JobView.ID });
  expect(raw.jobs).toEqual([]);
  expect(raw.jobIds).toHaveLength(1);
});

test("enqueue's dedupPolicy replaces the waiting job's payload, or only moves its run time", async () => {
  const { job: waiting } = await client.enqueue("policy", "v1", { dedupKey: "k", delayMs: 3_600_000 });
  const replaced = await client.enqueue("policy", "v2", { dedupKey: "k", dedupPolicy: "replace", delayMs: 7_200_000 });
  expect(replaced.deduplicated).toBe(true);
  expect(replaced.job.id).toBe(waiting.id);
  expect(new TextDecoder().decode(replaced.job.payload)).toBe("v2");
  const runAt = new Date("2099-01-01T00:00:00Z");
  const [debounced] = await client.enqueueMany([{ queue: "policy", payload: "v3", dedupKey: "k", dedupPolicy: "debounce", runAt }]);
  expect(new TextDecoder().decode(debounced!.job.payload)).toBe("v2");
  expect(Number(debounced!.job.runTime!.seconds) * 1000).toBe(runAt.getTime());
});

test("a worker's labels take the jobs enqueued with matching workerLabels; a worker without them never runs one", async () => {
  const ranOn: Record<string, string[]> = { plain: [], gpu: [] };
  const worker = (name: "plain" | "gpu", labels?: Record<string, string>) =>
    runWorker({
      baseUrl: broker.baseUrl,
      queues: ["ts-labels"],
      ...(labels && { labels }),
      handler: (job) => {
        ranOn[name]!.push(job.id);
        return name;
      },
    });
  workers.push(worker("plain"));
  const labelled = await client.enqueueMany(Array.from({ length: 5 }, () => ({ queue: "ts-labels", workerLabels: { gpu: "a100" } })));
  const ids = labelled.map(({ job }) => job.id);
  expect(labelled[0]!.job.workerLabels).toEqual({ gpu: "a100" });
  // An unlabelled job enqueued after them runs on the plain worker, which never took them.
  const { job: unlabelled } = await client.enqueue("ts-labels", "any");
  expect((await client.waitJob(unlabelled.id)).state).toBe(JobState.SUCCEEDED);
  workers.push(worker("gpu", { gpu: "a100", region: "eu" }));
  const done = await Promise.all(ids.map((id) => client.waitJob(id)));
  expect(done.map((job) => new TextDecoder().decode(job.result))).toEqual(ids.map(() => "gpu"));
  expect(ranOn.plain).toEqual([unlabelled.id]);
});

test("allPages follows next_page_token to the last page and returns every item once, in order", async () => {
  const ids = (await client.enqueueManyIds(Array.from({ length: 5 }, () => ({ queue: "all-pages" })))).map((e) => e.id);
  const tokens: string[] = [];
  const jobs = await allPages(
    (pageToken) => {
      tokens.push(pageToken);
      return client.jobs.listJobs({ queue: "all-pages", pageSize: 2, pageToken });
    },
    (page) => page.jobs,
  );
  expect(jobs.map((job) => job.id)).toEqual(ids.reverse());
  expect(tokens).toHaveLength(3);
  expect(tokens[0]).toBe("");
});

test("MAX_PAGE_SIZE, which callers of allPages ask for, is the broker's largest page_size", async () => {
  expect(MAX_PAGE_SIZE).toBe(BROKER_MAX_PAGE_SIZE);
  const page = await client.jobs.listJobs({ queue: "all-pages", pageSize: MAX_PAGE_SIZE });
  expect(page.nextPageToken).toBe("");
});
