import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { promisify } from "node:util";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { parse as parseYaml } from "yaml";
import { type Worker, runWorker } from "../clients/ts/src/index.js";
import { NOUNS } from "../src/cli/command-table.js";
import { formatDuration, parseDuration } from "../src/cli/duration.js";
import { JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { type CompletedRun, type TestProcess, killAll, runTs } from "./helpers/process.js";
import { eventually } from "./helpers/wait.js";

/**
 * The `baton` command line as a user runs it: a separate process talking to a real broker over
 * gRPC, judged by its stdout, stderr and exit code.
 */

let broker: TestBroker;
const processes: TestProcess[] = [];
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
});

afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

afterAll(async () => {
  await killAll(processes);
  await broker?.stop();
});

/** Runs `baton ...args` against the test broker (BATON_URL) and collects everything it wrote. */
function baton(args: string[], env: Record<string, string | undefined> = {}): Promise<CompletedRun> {
  return runTs("src/cli/main.ts", { BATON_URL: broker.baseUrl, ...env }, args, processes);
}

/** Like baton(), but the command must succeed and print one JSON document. */
async function batonJson(args: string[]): Promise<Record<string, unknown>> {
  const run = await baton([...args, "--json"]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

type JsonJob = Record<string, unknown> & { id: string; state: string };

function startWorker(queue: string, handler: Parameters<typeof runWorker>[0]["handler"], workerId?: string, labels?: Record<string, string>): Worker {
  const worker = runWorker({ baseUrl: broker.baseUrl, queues: [queue], concurrency: 2, handler, ...(workerId && { workerId }), ...(labels && { labels }) });
  cleanup.push(() => worker.stop());
  return worker;
}

async function waitForState(id: string, state: JobState): Promise<void> {
  await eventually(async () => (await broker.jobs.getJob({ id })).job!.state === state, { what: `job ${id} to be ${JobState[state]}` });
}

test("durations read as people write them and print back short", () => {
  expect(["500ms", "5s", "2m", "1h", "7d", "1h30m", "1.5h", "0s"].map(parseDuration)).toEqual([
    500, 5_000, 120_000, 3_600_000, 604_800_000, 5_400_000, 5_400_000, 0,
  ]);
  for (const bad of ["", "5", "5 s", "s", "-1s", "1y", "1h 30m"]) expect(parseDuration(bad), bad).toBeUndefined();
  expect([500, 45_000, 90_000, 5_400_000, 604_800_000].map(formatDuration)).toEqual(["500ms", "45s", "1m30s", "1h30m", "7d"]);
});

describe("enqueue and jobs get", () => {
  test("enqueue --json then jobs get --json round-trips every flag", async () => {
    const enqueued = await batonJson([
      "enqueue",
      "cli-roundtrip",
      "--json-payload",
      '{ "to": "bob@example.com" }',
      "--priority",
      "-3",
      "--delay",
      "1h",
      "--max-attempts",
      "4",
      "--dedup-key",
      "welcome-bob",
      "--fairness-key",
      "acme",
      "--timeout",
      "90s",
      "--header",
      "tenant=acme",
      "--header",
      "trace=a=b",
      "--worker-label",
      "gpu=a100",
      "--worker-label",
      "example.com/zone=eu-1",
    ]);
    expect(enqueued.deduplicated).toBe(false);
    const job = enqueued.job as JsonJob;
    expect(job).toMatchObject({
      queue: "cli-roundtrip",
      state: "JOB_STATE_SCHEDULED",
      priority: -3,
      maxAttempts: 4,
      dedupKey: "welcome-bob",
      fairnessKey: "acme",
      timeout: "90s",
      headers: { tenant: "acme", trace: "a=b" },
      workerLabels: { gpu: "a100", "example.com/zone": "eu-1" },
    });
    // Bytes are base64 in protobuf JSON; the payload was sent compact.
    expect(Buffer.from(job.payload as string, "base64").toString()).toBe('{"to":"bob@example.com"}');
    const runAt = Date.parse(job.runTime as string) - Date.parse(job.createTime as string);
    expect(runAt).toBeGreaterThanOrEqual(3_599_000);

    const fetched = await batonJson(["jobs", "get", job.id]);
    expect(fetched.job).toEqual(job);

    const again = await batonJson(["enqueue", "cli-roundtrip", "--payload", "other", "--dedup-key", "welcome-bob"]);
    expect(again.deduplicated).toBe(true);
    expect((again.job as JsonJob).id).toBe(job.id);
  });

  test("--dedup-policy replace gives the waiting job the new payload; debounce only moves its run time", async () => {
    const first = await batonJson(["enqueue", "cli-policy", "--payload", "v1", "--dedup-key", "k", "--delay", "1h"]);
    const id = (first.job as JsonJob).id;
    const replaced = await baton(["enqueue", "cli-policy", "--payload", "v2", "--dedup-key", "k", "--dedup-policy", "replace", "--delay", "2h"]);
    expect(replaced.code).toBe(0);
    expect(replaced.stderr).toContain(`deduplicated: job ${id} already had dedup key "k"; it took this payload and run time`);
    const debounced = await batonJson(["enqueue", "cli-policy", "--payload", "v3", "--dedup-key", "k", "--dedup-policy", "debounce", "--run-at", "2099-01-01T00:00:00Z"]);
    expect(debounced).toMatchObject({ deduplicated: true, job: { id, runTime: "2099-01-01T00:00:00Z", payload: Buffer.from("v2").toString("base64") } });
  });

  test("human output is a table / a record with the job id and its state", async () => {
    const enqueued = await baton(["enqueue", "cli-human", "--payload", "hello", "--run-at", "2099-01-01T00:00:00Z"]);
    expect(enqueued.code).toBe(0);
    const [header, row] = enqueued.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^\s*ID\s+QUEUE\s+STATE\s+ATTEMPTS/);
    const id = row!.trim().split(/\s+/)[0]!;
    expect(row).toMatch(new RegExp(`^\\s*${id}\\s+cli-human\\s+SCHEDULED\\s+0/25\\b`));

    const got = await baton(["jobs", "get", id]);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(new RegExp(`^id\\s+${id}$`, "m"));
    expect(got.stdout).toMatch(/^state\s+SCHEDULED$/m);
    expect(got.stdout).toMatch(/^run at\s+2099-01-01T00:00:00.000Z \(in \d+d\)$/m);
    expect(got.stdout).toMatch(/^payload\s+hello$/m);
    expect(got.stdout).not.toContain("JOB_STATE_");
  });

  test("--payload-file sends the file's bytes", async () => {
    const { job } = (await batonJson(["enqueue", "cli-file", "--payload-file", "package.json"])) as { job: JsonJob };
    const stored = (await broker.jobs.getJob({ id: job.id })).job!;
    const { readFileSync } = await import("node:fs");
    expect(Buffer.from(stored.payload).equals(readFileSync("package.json"))).toBe(true);
  });

  test("jobs get of an unknown id exits 4 with the broker's not_found message", async () => {
    const run = await baton(["jobs", "get", "987654321"]);
    expect(run.code).toBe(4);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe("baton jobs get: not_found: job 987654321 not found\n");
  });

  test("an unreachable broker exits 1 and says where it looked", async () => {
    const run = await baton(["jobs", "get", "1", "--url", "http://127.0.0.1:1"], { BATON_URL: undefined });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^baton jobs get: unavailable: .*is a broker running at http:\/\/127\.0\.0\.1:1\?/);
  });
});

describe("usage", () => {
  test.concurrent.each([
    [["enqueue"], "baton enqueue: missing <queue>"],
    [["enqueue", "q", "--priority", "high"], 'baton enqueue: --priority must be an integer from -2147483648 to 2147483647, got "high"'],
    [["enqueue", "q", "--delay", "5 parsecs"], 'baton enqueue: --delay must be a duration like 500ms, 5s, 2m, 1h or 7d, got "5 parsecs"'],
    [["enqueue", "q", "--payload", "a", "--json-payload", "{}"], "give at most one of --payload, --payload-file and --json-payload"],
    [["enqueue", "q", "--json-payload", "{oops"], "--json-payload is not valid JSON"],
    [["enqueue", "q", "--delay", "5s", "--run-at", "2030-01-01T00:00:00Z"], "give at most one of --delay and --run-at"],
    [["enqueue", "q", "--header", "novalue"], '--header must look like key=value, got "novalue"'],
    [["enqueue", "q", "--worker-label", "gpu"], '--worker-label must look like key=value, got "gpu"'],
    [["enqueue", "q", "--colour", "red"], "baton enqueue: unknown flag --colour"],
    [["enqueue", "q", "--dedup-key", "k", "--dedup-policy", "merge"], '--dedup-policy must be one of keep, replace, debounce, got "merge"'],
    [["enqueue", "q", "--dedup-policy", "replace"], "--dedup-policy needs --dedup-key"],
    [["jobs", "list", "--state", "sleeping"], '--state must be one of scheduled, available, blocked, leased, succeeded, dead, cancelled, got "sleeping"'],
    [["jobs", "get", "abc"], '"abc" is not a job id'],
    [["jobs", "get", "1", "2"], 'unexpected argument "2"'],
    [["jobs", "retry"], "give a job <id>, or filter flags (--queue, --state, --header, …) to retry every job they match"],
    [["jobs", "cancel"], "give a job <id>, or filter flags (--queue, --state, --header, …) to cancel every job they match"],
    [["jobs", "delete", "1", "--queue", "q"], "give either a job <id> or filter flags, not both"],
    [["jobs", "delete", "--id", "x"], '"x" is not a job id'],
    [["jobs", "cancel", "--header", "novalue"], '--header must look like key=value, got "novalue"'],
    [["jobs", "list", "--created-after", "yesterday"], '--created-after must be an ISO 8601 time like 2030-01-31T09:00:00Z, got "yesterday"'],
    [["jobs", "retry", "--queue", "q", "--state", "succeeded"], "--state must be one of dead, cancelled"],
    [["jobs", "wait", "1", "--timeout", "soon"], "--timeout must be a duration"],
    [["queues", "update", "q"], "nothing to update"],
    [["schedules", "create", "nightly", "--queue", "q"], "--cron is required"],
    [["jobs", "frobnicate"], 'baton jobs: unknown verb "frobnicate"'],
    [["jobs"], "baton jobs: missing verb"],
    [["frobnicate"], 'baton: unknown command "frobnicate"'],
    [["jobs", "list", "--url", "localhost:7600"], '--url must be an http:// or https:// address, got "localhost:7600"'],
    [["jobs", "list", "-o", "xml"], 'baton jobs list: -o/--output must be one of json, yaml, wide, got "xml"'],
    [["queues", "ls", "--output=table"], 'baton queues list: -o/--output must be one of json, yaml, wide, got "table"'],
    // A record already shows every field: there are no more columns for wide to add.
    [["jobs", "get", "1", "-o", "wide"], 'baton jobs get: -o/--output must be one of json, yaml, got "wide"'],
    [["jobs", "list", "--json", "-o", "yaml"], "give either --json or -o yaml, not both"],
    [["tokens", "revoke", "1", "--json"], "baton tokens revoke: unknown flag --json"],
    [["version", "--url", "http://localhost:7600"], "baton version: unknown flag --url"],
    [["completion"], "baton completion: missing <shell>"],
    [["completion", "powershell"], 'baton completion: <shell> must be one of bash, zsh, fish, got "powershell"'],
    [["serve", "--port", "http"], "baton serve: --port must be an integer from 0 to 65535"],
  ])("baton %j exits 2: %s", async (args, message) => {
    const run = await baton(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    expect(run.stderr).toContain(message);
    // Every usage error points at the help that would have prevented it.
    expect(run.stderr).toMatch(/--help|usage: baton/);
  });

  test("--help works for baton, each noun and each command, and exits 0", async () => {
    const top = await baton(["--help"]);
    expect(top.code).toBe(0);
    for (const command of ["serve", "migrate", "enqueue <queue>", "jobs list", "jobs wait <id>", "queues update <queue>", "schedules create <name>", "workers list"]) {
      expect(top.stdout).toContain(command);
    }
    const nouns: [string, string[]][] = [
      ["jobs", ["list", "get", "cancel", "retry", "wait"]],
      ["queues", ["list", "get", "pause", "resume", "update", "history"]],
      ["schedules", ["create", "list", "update", "pause", "resume", "trigger", "delete"]],
      ["workers", ["list"]],
    ];
    const runs = await Promise.all([
      ...nouns.map(async ([noun, verbs]) => {
        const run = await baton([noun, "--help"]);
        expect(run.code, noun).toBe(0);
        for (const verb of verbs) expect(run.stdout, noun).toContain(`${noun} ${verb}`);
      }),
      ...[["enqueue"], ...nouns.flatMap(([noun, verbs]) => verbs.map((verb) => [noun, verb]))].map(async (command) => {
        const run = await baton([...command, "--help"]);
        expect(run.code, command.join(" ")).toBe(0);
        expect(run.stdout).toContain(`usage: baton ${command.join(" ")}`);
        expect(run.stdout).toContain("--url <url>");
        expect(run.stdout).toContain("--json");
        expect(run.stdout).toContain("examples:");
        expect(run.stdout).toContain("exit codes:");
      }),
    ]);
    expect(runs.length).toBe(4 + 1 + 19);
    // Where a command prints a table, -o offers wide; where it prints one record, it does not.
    expect((await baton(["jobs", "list", "--help"])).stdout).toMatch(/^ {2}-o, --output <format>\s+json\|yaml: .*; wide: /m);
    expect((await baton(["jobs", "get", "--help"])).stdout).toMatch(/^ {2}-o, --output <format>\s+json\|yaml: [^;]*$/m);
    const helpVerb = await baton(["help", "jobs", "wait"]);
    expect(helpVerb.stdout).toContain("usage: baton jobs wait <id>");
    const serveHelp = await baton(["serve", "--help"]);
    expect(serveHelp.code).toBe(0);
    expect(serveHelp.stdout).toContain("BATON_DATABASE_URL");
  });
});

describe("workers", () => {
  test("workers list shows the stream of a running worker, with its labels", async () => {
    startWorker("cli-workers", () => "ok", "cli-test-worker", { gpu: "a100", region: "eu" });
    await eventually(async () => (await broker.workers.listWorkers({ queue: "cli-workers" })).workers.length > 0, { what: "the worker's stream to be listed" });
    const run = await baton(["workers", "list", "--queue", "cli-workers"]);
    expect(run.code).toBe(0);
    const [header, row, extra] = run.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^WORKER\s+SESSION\s+QUEUES\s+LABELS\s+IN FLIGHT\s+CONNECTED\s+LAST SEEN\s+REPLICA$/);
    expect(row).toMatch(/^cli-test-worker\s+\S+\s+cli-workers\s+gpu=a100,region=eu\s+0\/2\s/);
    expect(extra).toBeUndefined();

    const json = await batonJson(["workers", "list", "--queue", "cli-workers"]);
    expect(json.workers).toEqual([
      expect.objectContaining({ workerId: "cli-test-worker", queues: ["cli-workers"], labels: { gpu: "a100", region: "eu" }, maxInFlight: 2 }),
    ]);

    const none = await baton(["workers", "list", "--queue", "cli-nobody"]);
    expect(none).toMatchObject({ code: 0, stdout: "", stderr: "no workers connected\n" });
  });
});

describe("jobs list", () => {
  test("filters by queue and state, pages with --page-token, and follows every page with --all", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await broker.jobs.enqueueJob({ queue: "cli-list" })).job!.id);
    await broker.jobs.cancelJob({ id: ids[1]! });

    const table = await baton(["jobs", "list", "--queue", "cli-list"]);
    expect(table.code).toBe(0);
    const rows = table.stdout.trimEnd().split("\n").slice(1);
    // Newest first.
    expect(rows.map((r) => r.trim().split(/\s+/).slice(0, 3))).toEqual([
      [ids[2], "cli-list", "AVAILABLE"],
      [ids[1], "cli-list", "CANCELLED"],
      [ids[0], "cli-list", "AVAILABLE"],
    ]);

    const dead = await batonJson(["jobs", "list", "--queue", "cli-list", "--state", "cancelled"]);
    expect((dead.jobs as JsonJob[]).map((j) => j.id)).toEqual([ids[1]]);

    const first = await baton(["jobs", "list", "--queue", "cli-list", "--limit", "2"]);
    expect(first.stdout.trimEnd().split("\n")).toHaveLength(3);
    const token = /--page-token (\S+)/.exec(first.stderr)?.[1];
    expect(token).toBeDefined();
    const second = await batonJson(["jobs", "list", "--queue", "cli-list", "--limit", "2", "--page-token", token!]);
    expect((second.jobs as JsonJob[]).map((j) => j.id)).toEqual([ids[0]]);
    expect(second.nextPageToken).toBe("");

    const all = await baton(["jobs", "list", "--queue", "cli-list", "--limit", "1", "--all", "--json"]);
    expect(all.code).toBe(0);
    expect((JSON.parse(all.stdout) as { jobs: JsonJob[] }).jobs.map((j) => j.id)).toEqual([...ids].reverse());
    expect(all.stderr).toContain("baton jobs list: fetched 2 jobs (page 2)");

    const empty = await baton(["jobs", "list", "--queue", "cli-empty"]);
    expect(empty).toMatchObject({ code: 0, stdout: "", stderr: "no jobs\n" });
  });
});

describe("jobs cancel and retry", () => {
  test("cancel a waiting job, retry it, and bulk-retry a queue's cancelled jobs", async () => {
    const { job } = await broker.jobs.enqueueJob({ queue: "cli-cancel" });
    const cancelled = await baton(["jobs", "cancel", job!.id]);
    expect(cancelled.code).toBe(0);
    expect(cancelled.stdout).toMatch(new RegExp(`^\\s*${job!.id}\\s+cli-cancel\\s+CANCELLED\\s`, "m"));

    const again = await baton(["jobs", "cancel", job!.id]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^baton jobs cancel: failed_precondition: job \d+ is already finished/);

    const retried = (await batonJson(["jobs", "retry", job!.id])).job as JsonJob;
    expect(retried.state).toBe("JOB_STATE_AVAILABLE");

    const others = await Promise.all([0, 1].map(() => broker.jobs.enqueueJob({ queue: "cli-cancel" })));
    for (const o of [job!, ...others.map((o) => o.job!)]) await broker.jobs.cancelJob({ id: o.id });
    const bulk = await baton(["jobs", "retry", "--queue", "cli-cancel", "--state", "cancelled"]);
    expect(bulk).toMatchObject({ code: 0, stdout: "retried 3 CANCELLED jobs of queue cli-cancel\n" });
    for (const o of others) expect((await broker.jobs.getJob({ id: o.job!.id })).job!.state).toBe(JobState.AVAILABLE);

    expect((await baton(["jobs", "cancel", "987654321"])).code).toBe(4);
  });

  test("dead jobs are listed and revived by a bulk retry of their queue", async () => {
    let fail = true;
    startWorker("cli-dead", () => {
      if (fail) throw new Error("smtp said no");
      return "sent";
    });
    const { job } = await broker.jobs.enqueueJob({ queue: "cli-dead", maxAttempts: 1 });
    await waitForState(job!.id, JobState.DEAD);

    const list = await baton(["jobs", "list", "--queue", "cli-dead", "--state", "dead"]);
    expect(list.stdout).toMatch(new RegExp(`^\\s*${job!.id}\\s+cli-dead\\s+DEAD\\s+1/1\\s.*smtp said no$`, "m"));

    fail = false;
    const bulk = await batonJson(["jobs", "retry", "--queue", "cli-dead"]);
    expect(bulk).toEqual({ count: "1", skipped: [] });
    await waitForState(job!.id, JobState.SUCCEEDED);
  });

  test("a job whose dedup_key another job holds is refused by retry <id> and listed as skipped by a bulk retry", async () => {
    const { job: old } = await broker.jobs.enqueueJob({ queue: "cli-held", dedupKey: "report-1" });
    await broker.jobs.cancelJob({ id: old!.id });
    const { job: holder } = await broker.jobs.enqueueJob({ queue: "cli-held", dedupKey: "report-1" });
    const { job: other } = await broker.jobs.enqueueJob({ queue: "cli-held" });
    await broker.jobs.cancelJob({ id: other!.id });

    const one = await baton(["jobs", "retry", old!.id]);
    expect(one.code).toBe(1);
    expect(one.stderr).toBe(
      `baton jobs retry: failed_precondition: job ${old!.id} cannot be retried: its dedup_key report-1 is held by job ${holder!.id}, which is available\n`,
    );
    const bulk = await baton(["jobs", "retry", "--queue", "cli-held", "--state", "cancelled"]);
    expect(bulk).toMatchObject({
      code: 0,
      stdout:
        "retried 1 CANCELLED jobs of queue cli-held\n" +
        `skipped 1:\n  job ${old!.id}: its dedup_key report-1 is held by job ${holder!.id}, which is available\n`,
    });
  });
});

describe("jobs by filter", () => {
  test("list by header, cancel by header (again: nothing more), delete by filter, and delete one job", async () => {
    const { jobs } = await broker.jobs.enqueueJobs({
      jobs: [
        { queue: "cli-bulk", headers: { batch: "x" } },
        { queue: "cli-bulk", headers: { batch: "x" } },
        { queue: "cli-bulk", headers: { batch: "y" } },
      ],
    });
    const [x1, x2, y] = jobs.map((job) => job.id) as [string, string, string];
    const listed = await batonJson(["jobs", "list", "--header", "batch=x", "--state", "available", "--state", "cancelled"]);
    expect((listed.jobs as JsonJob[]).map((job) => job.id)).toEqual([x2, x1]);

    expect(await baton(["jobs", "cancel", "--header", "batch=x"])).toMatchObject({
      code: 0,
      stdout: "cancelled 2 waiting jobs; asked the workers of 0 running jobs to stop\n",
    });
    expect(await batonJson(["jobs", "cancel", "--header", "batch=x", "--queue", "cli-bulk"])).toEqual({ cancelled: "0", cancelRequested: "0" });

    expect(await baton(["jobs", "delete", "--queue", "cli-bulk", "--state", "cancelled"])).toMatchObject({ code: 0, stdout: "deleted 2 jobs\n" });
    expect(await batonJson(["jobs", "delete", "--queue", "cli-bulk", "--state", "cancelled"])).toEqual({ count: "0" });
    expect(await baton(["jobs", "delete", y])).toMatchObject({ code: 0, stdout: `deleted job ${y}\n` });
    expect((await baton(["jobs", "delete", y])).code).toBe(4);
    expect((await batonJson(["jobs", "list", "--queue", "cli-bulk"])).jobs ?? []).toEqual([]);
  });
});

describe("jobs wait", () => {
  test("returns the result of a job that succeeds, with progress on stderr", async () => {
    const { job } = await broker.jobs.enqueueJob({ queue: "cli-wait" });
    const waiting = baton(["jobs", "wait", job!.id, "--timeout", "30s"]);
    startWorker("cli-wait", (_job, { progress }) => {
      progress(50, "halfway");
      return { delivered: true };
    });
    const run = await waiting;
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^state\s+SUCCEEDED$/m);
    expect(run.stdout).toMatch(/^result\s+\{\n\s+"delivered": true\n\s+\}$/m);
    expect(run.stderr).toContain(`baton jobs wait: waiting for job ${job!.id}…`);
  });

  test("times out with exit 3 and reports the job's state", async () => {
    const { job } = await broker.jobs.enqueueJob({ queue: "cli-wait-nobody" });
    const run = await baton(["jobs", "wait", job!.id, "--timeout", "1500ms", "--json"]);
    expect(run.code).toBe(3);
    expect(JSON.parse(run.stdout)).toMatchObject({ timedOut: true, job: { id: job!.id, state: "JOB_STATE_AVAILABLE" } });
    expect(run.stderr).toMatch(/baton jobs wait: timed out after \d+s; job \d+ is AVAILABLE, attempt 0\/25/);

    const once = await baton(["jobs", "wait", job!.id, "--timeout", "0s"]);
    expect(once.code).toBe(3);
  });

  test("exits 5 when the job ends DEAD, with its error", async () => {
    startWorker("cli-wait-dead", () => {
      throw new Error("disk full");
    });
    const { job } = await broker.jobs.enqueueJob({ queue: "cli-wait-dead", maxAttempts: 1 });
    const run = await baton(["jobs", "wait", job!.id]);
    expect(run.code).toBe(5);
    expect(run.stdout).toMatch(/^state\s+DEAD$/m);
    expect(run.stderr).toContain(`baton jobs wait: job ${job!.id} finished DEAD: disk full`);
    expect((await baton(["jobs", "wait", "987654321"])).code).toBe(4);
  });

  test("--chain waits for every job of a DAG and lists them; --json carries chain_jobs", async () => {
    const { jobs } = await broker.jobs.enqueueJobs({
      jobs: [{ queue: "cli-dag" }, { queue: "cli-dag", dependsOnIndex: [0] }, { queue: "cli-dag", dependsOnIndex: [0] }],
    });
    const unfinished = await baton(["jobs", "wait", jobs[2]!.id, "--chain", "--timeout", "0s"]);
    expect(unfinished.code).toBe(3);
    expect(unfinished.stderr).toContain(`the chain of job ${jobs[2]!.id} is unfinished`);
    startWorker("cli-dag", (job) => `done ${job.id}`);
    const run = await baton(["jobs", "wait", jobs[1]!.id, "--chain", "--json"]);
    expect(run.code).toBe(0);
    const response = JSON.parse(run.stdout) as { job: { id: string }; chainJobs: { id: string; state: string }[] };
    expect(response.job.id).toBe(jobs[1]!.id);
    expect(response.chainJobs.map((job) => [job.id, job.state])).toEqual(
      jobs.map((job) => [job.id, "JOB_STATE_SUCCEEDED"]).reverse(),
    );
    const table = await baton(["jobs", "wait", jobs[0]!.id, "--chain"]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n").filter((line) => / SUCCEEDED /.test(line))).toHaveLength(3);
  });

  test("--chain exits 5 for a chain whose failed job is past the first page of 1,000", async () => {
    const { job: first } = await broker.jobs.enqueueJob({ queue: "cli-long-chain", payload: new TextEncoder().encode("fail"), maxAttempts: 1 });
    // Newer jobs come first, so the 1,000 that succeed fill the first page.
    await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 1000 }, () => ({ queue: "cli-long-chain", chainId: first!.id })) });
    startWorker("cli-long-chain", (job) => {
      if (new TextDecoder().decode(job.payload) === "fail") throw new Error("the first job fails");
    });
    const run = await baton(["jobs", "wait", first!.id, "--chain"]);
    expect(run.code).toBe(5);
    expect(run.stderr).toContain(`the chain has more jobs: baton jobs list --chain ${first!.id} --all`);
    expect(run.stderr).toContain(`not every job of the chain succeeded (job ${first!.id} is DEAD)`);
  });
});

describe("queues", () => {
  test("get, pause, resume and update a queue", async () => {
    await broker.jobs.enqueueJob({ queue: "cli-queue", start: { case: "delay", value: { seconds: 3600n } } });
    await broker.jobs.enqueueJob({ queue: "cli-queue" });

    const got = await batonJson(["queues", "get", "cli-queue"]);
    expect(got.queue).toMatchObject({ name: "cli-queue", paused: false, scheduled: "1", available: "1" });

    const paused = await baton(["queues", "pause", "cli-queue"]);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/^status\s+paused/m);
    const list = await baton(["queues", "list"]);
    expect(list.stdout).toMatch(/^QUEUE\s+STATUS\s+SCHEDULED\s+AVAILABLE/);
    expect(list.stdout).toMatch(/^cli-queue\s+paused\s+1\s+1\s+0\s+0\s+0\s+0\s+0\s+\S+$/m);
    const resumed = await batonJson(["queues", "resume", "cli-queue"]);
    expect((resumed.queue as { paused: boolean }).paused).toBe(false);

    const updated = await baton([
      "queues",
      "update",
      "cli-queue",
      "--concurrency-limit",
      "3",
      "--rate-limit",
      "2.5",
      "--lease",
      "45s",
      "--dead-retention",
      "7d",
    ]);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/^concurrency-limit\s+3$/m);
    expect(updated.stdout).toMatch(/^rate-limit\s+2.5\/s$/m);
    expect(updated.stdout).toMatch(/^lease\s+45s$/m);
    expect(updated.stdout).toMatch(/^dead-retention\s+7d$/m);

    // Only the named settings change; "default" resets one.
    const reset = await batonJson(["queues", "update", "cli-queue", "--lease", "default"]);
    const config = (reset.queue as { config: Record<string, unknown> }).config;
    expect(config).toMatchObject({ concurrencyLimit: 3, rateLimit: 2.5, deadRetention: "604800s" });
    expect(config.leaseDuration).toBeUndefined();

    expect((await baton(["queues", "get", "cli-no-such-queue"])).code).toBe(4);
  });

  test("queues update sets the limits per fairness key; --fairness-key-limit is the old name of the concurrency one", async () => {
    const limited = await baton(["queues", "update", "cli-tenants", "--fairness-concurrency-limit", "2", "--fairness-rate-limit", "0.5"]);
    expect(limited.code).toBe(0);
    expect(limited.stdout).toMatch(/^fairness-concurrency-limit\s+2$/m);
    expect(limited.stdout).toMatch(/^fairness-rate-limit\s+0.5\/s$/m);
    expect(limited.stdout).not.toMatch(/fairness-key-limit/);
    const renamed = await batonJson(["queues", "update", "cli-tenants", "--fairness-key-limit", "3"]);
    expect((renamed.queue as { config: unknown }).config).toMatchObject({ fairnessConcurrencyLimit: 3, fairnessKeyLimit: 3, fairnessRateLimit: 0.5 });
    const clash = await baton(["queues", "update", "cli-tenants", "--fairness-key-limit", "3", "--fairness-concurrency-limit", "4"]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(
      /^baton queues update: invalid_argument: config\.fairness_key_limit \(3\) and config\.fairness_concurrency_limit \(4\) are one setting under two names/,
    );
    for (const bad of ["-1", "NaN", "Infinity"]) {
      const refused = await baton(["queues", "update", "cli-tenants", "--fairness-rate-limit", bad]);
      expect(refused.code, bad).toBe(2);
      expect(refused.stderr, bad).toMatch(/--fairness-rate-limit/);
    }
    const reset = await batonJson(["queues", "update", "cli-tenants", "--fairness-rate-limit", "default"]);
    expect((reset.queue as { config: Record<string, unknown> }).config.fairnessRateLimit).toBe(0);
  });

  test("history: counts per step from the broker, as a table or JSON; a bad step is refused", async () => {
    await broker.jobs.enqueueJob({ queue: "cli-history" });
    await broker.jobs.enqueueJob({ queue: "cli-history" });
    await broker.server.broker.flushHistory();
    const json = (await batonJson(["queues", "history", "cli-history"])) as { points: { enqueued: string }[]; step: string };
    expect(json.step).toBe("60s");
    expect(json.points).toHaveLength(60);
    expect(json.points.reduce((n, p) => n + Number(p.enqueued), 0)).toBe(2);
    const text = await baton(["queues", "history", "cli-history", "--window", "10m", "--step", "5m"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^START\s+ENQUEUED\s+SUCCEEDED\s+RETRIED\s+DEAD\s+CANCELLED\n\d{4}-\d\d-\d\dT\d\d:\d\dZ\s+\d+/);
    expect(text.stdout.trim().split("\n")).toHaveLength(3);
    const bad = await baton(["queues", "history", "--step", "90s"]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("step must be a whole number of minutes");
  });

  test("an RPC the broker does not implement is reported cleanly with exit 1", async () => {
    // A server that knows QueueService but implements none of it, like an older broker.
    const server = http2.createServer(connectNodeAdapter({ routes: (router) => router.service(QueueService, {}) }));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanup.push(() => new Promise((resolve) => server.close(() => resolve())));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const run = await baton(["queues", "list", "--url", url]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      `baton queues list: unimplemented: baton.v1.QueueService.ListQueues is not implemented (the broker at ${url} does not support this command yet)\n`,
    );
  });
});

describe("schedules", () => {
  test("create, list and delete a schedule", async () => {
    const created = await baton([
      "schedules",
      "create",
      "cli-nightly",
      "--queue",
      "cli-reports",
      "--cron",
      "0 3 * * *",
      "--time-zone",
      "Europe/Paris",
      "--json-payload",
      '{"report":"daily"}',
      "--priority",
      "2",
    ]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^name\s+cli-nightly$/m);
    expect(created.stdout).toMatch(/^next run\s+\d{4}-\d\d-\d\dT0[12]:00:00.000Z \(in [^)]+\)$/m);

    const list = await baton(["schedules", "list"]);
    expect(list.stdout).toMatch(/^NAME\s+QUEUE\s+CRON\s+TIME ZONE\s+NEXT RUN\s+LAST RUN$/m);
    expect(list.stdout).toMatch(/^cli-nightly\s+cli-reports\s+0 3 \* \* \*\s+Europe\/Paris\s+in \S+\s+-$/m);
    const json = await batonJson(["schedules", "list"]);
    expect(json.schedules).toEqual([expect.objectContaining({ name: "cli-nightly", priority: 2, timeZone: "Europe/Paris" })]);

    const deleted = await baton(["schedules", "delete", "cli-nightly"]);
    expect(deleted).toMatchObject({ code: 0, stdout: "deleted schedule cli-nightly\n" });
    const missing = await baton(["schedules", "delete", "cli-nightly"]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/^baton schedules delete: not_found: /);

    const bad = await baton(["schedules", "create", "cli-bad", "--queue", "q", "--cron", "every tuesday"]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^baton schedules create: invalid_argument: /);
  });

  test("update, pause, resume and trigger a schedule; catch-up window and overlap policy flags", async () => {
    const created = await baton(["schedules", "create", "cli-sync", "--queue", "cli-sync", "--cron", "0 0 1 1 *", "--catchup-window", "1h", "--overlap-policy", "skip"]);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/^catch-up window\s+1h$/m);
    expect(created.stdout).toMatch(/^overlap policy\s+skip$/m);

    // Only what the flags name changes; 0s clears the window.
    const updated = await batonJson(["schedules", "update", "cli-sync", "--priority", "4", "--catchup-window", "0s", "--overlap-policy", "allow"]);
    expect(updated.schedule).toMatchObject({ name: "cli-sync", queue: "cli-sync", cron: "0 0 1 1 *", priority: 4, overlapPolicy: "OVERLAP_POLICY_ALLOW" });
    expect(updated.schedule).not.toHaveProperty("catchupWindow");

    expect(await baton(["schedules", "pause", "cli-sync"])).toMatchObject({ code: 0, stdout: "paused schedule cli-sync\n" });
    const wide = await baton(["schedules", "list", "-o", "wide"]);
    expect(wide.stdout).toMatch(/^cli-sync\s+cli-sync\s+0 0 1 1 \*\s+UTC\s+paused\s+-\s+latest only\s+allow\s+4\s/m);
    const triggered = await baton(["schedules", "trigger", "cli-sync"]);
    expect(triggered.stdout).toMatch(/^triggered schedule cli-sync: job \d+\n$/);
    const jobs = (await batonJson(["jobs", "list", "--queue", "cli-sync"])) as { jobs: { dedupKey: string }[] };
    expect(jobs.jobs.map((j) => j.dedupKey)).toEqual([expect.stringMatching(/^schedule:cli-sync:trigger:/)]);
    const resumed = await batonJson(["schedules", "resume", "cli-sync"]);
    expect(resumed.schedule).toMatchObject({ paused: false });

    const nothing = await baton(["schedules", "update", "cli-sync"]);
    expect(nothing).toMatchObject({ code: 2, stdout: "" });
    expect(nothing.stderr).toContain("nothing to update: give at least one of --queue, --cron");
    const policy = await baton(["schedules", "update", "cli-sync", "--overlap-policy", "never"]);
    expect(policy.code).toBe(2);
    expect(policy.stderr).toContain('--overlap-policy must be one of allow, skip, got "never"');
    const window = await baton(["schedules", "update", "cli-sync", "--catchup-window", "5s"]);
    expect(window.code).toBe(1);
    expect(window.stderr).toMatch(/^baton schedules update: invalid_argument: schedule\.catchup_window is 5s/);
    const missing = await baton(["schedules", "trigger", "no-such"]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/^baton schedules trigger: not_found: schedule "no-such" not found/);
    await baton(["schedules", "delete", "cli-sync"]);
  });
});

describe("lists longer than one page", () => {
  test("queues list and schedules list follow every page (1000 queues, or BATON_MAX_PAGE_BYTES of schedules, per page)", async () => {
    const queueNames = Array.from({ length: 1050 }, (_, i) => `cli-many-${String(i).padStart(4, "0")}`);
    await broker.jobs.enqueueJobs({ jobs: queueNames.map((queue) => ({ queue })) });
    const queuesJson = (await batonJson(["queues", "list"])) as { queues: { name: string }[]; nextPageToken: string };
    expect(queuesJson.queues.map((q) => q.name).filter((name) => name.startsWith("cli-many-"))).toEqual(queueNames);
    expect(queuesJson.nextPageToken).toBe("");
    const queuesTable = await baton(["queues", "list"]);
    expect(queuesTable.stdout.split("\n").filter((line) => line.startsWith("cli-many-"))).toHaveLength(1050);

    // A replica whose pages hold 2 KB of schedule payloads: two or three schedules each.
    const tight = await startTestBroker({ maxPageBytes: 2000 }, broker.databaseUrl);
    cleanup.push(() => tight.stop());
    const schedules = createClient(ScheduleService, createGrpcTransport({ baseUrl: tight.baseUrl }));
    const scheduleNames = queueNames.slice(0, 12);
    for (const name of scheduleNames) {
      await schedules.createSchedule({ schedule: { name, queue: name, cron: "0 0 1 1 *", payload: new Uint8Array(700) } });
    }
    cleanup.push(async () => {
      for (const name of scheduleNames) await schedules.deleteSchedule({ name });
    });
    expect((await schedules.listSchedules({})).nextPageToken).not.toBe("");
    const run = await baton(["schedules", "list", "--json", "--url", tight.baseUrl]);
    expect(run.code).toBe(0);
    const schedulesJson = JSON.parse(run.stdout) as { schedules: { name: string }[]; nextPageToken: string };
    expect(schedulesJson.schedules.map((s) => s.name)).toEqual(scheduleNames);
    expect(schedulesJson.nextPageToken).toBe("");
    const schedulesTable = await baton(["schedules", "list", "--url", tight.baseUrl]);
    expect(schedulesTable.stdout.split("\n").filter((line) => line.startsWith("cli-many-"))).toHaveLength(12);
  });
});

describe("version", () => {
  const { version } = JSON.parse(readFileSync("package.json", "utf8")) as { version: string };

  test("baton version, --version and -v print the package version and the Node.js it runs on", async () => {
    const runs = await Promise.all([["version"], ["--version"], ["-v"]].map((args) => baton(args)));
    for (const run of runs) {
      expect(run).toMatchObject({ code: 0, stderr: "" });
      expect(run.stdout).toBe(`baton  ${version}\nnode   ${process.version} (${process.platform} ${process.arch})\n`);
    }
  });

  test("-o json and -o yaml print it as a document", async () => {
    const expected = { version, node: process.version, platform: process.platform, arch: process.arch };
    expect(await batonJson(["version"])).toEqual(expected);
    const json = await baton(["--version", "-o", "json"]);
    expect(JSON.parse(json.stdout)).toEqual(expected);
    const yaml = await baton(["version", "-o", "yaml"]);
    expect(yaml.code).toBe(0);
    expect(parseYaml(yaml.stdout)).toEqual(expected);
  });
});

describe("shell completion", () => {
  const bash = promisify(execFile);

  /** What the bash script offers for a command line whose last word is being typed. */
  async function complete(script: string, line: string[]): Promise<string[]> {
    const { stdout } = await bash(
      "bash",
      ["-c", 'eval "$SCRIPT"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _baton; printf "%s\\n" "${COMPREPLY[@]}"', "bash", ...line],
      { env: { PATH: process.env.PATH, SCRIPT: script } },
    );
    return stdout.split("\n").filter(Boolean);
  }

  test("the bash script completes commands, verbs, aliases, flags and flag values in a real bash", async () => {
    const run = await baton(["completion", "bash"]);
    expect(run).toMatchObject({ code: 0, stderr: "" });
    const script = run.stdout;
    // The script registers itself for the baton command.
    const { stdout: registered } = await bash("bash", ["-c", 'eval "$SCRIPT"; complete -p baton'], { env: { PATH: process.env.PATH, SCRIPT: script } });
    expect(registered.trim()).toBe("complete -o default -F _baton baton");

    // Every command of the table, and only those: nothing is listed twice by hand.
    expect(await complete(script, ["baton", ""])).toEqual(NOUNS.map((noun) => noun.name));
    expect(await complete(script, ["baton", "jo"])).toEqual(["jobs"]);
    expect(await complete(script, ["baton", "schedules", ""])).toEqual(["create", "list", "ls", "update", "pause", "resume", "trigger", "delete", "rm"]);
    expect(await complete(script, ["baton", "jobs", "ls", "--st"])).toEqual(["--state"]);
    expect(await complete(script, ["baton", "jobs", "list", "--queue", "emails", "--state", "d"])).toEqual(["dead"]);
    // Flags before the command and their values are stepped over.
    expect(await complete(script, ["baton", "--url", "http://localhost:7600", "queues", "ls", "-o", ""])).toEqual(["json", "yaml", "wide"]);
    expect(await complete(script, ["baton", "jobs", "get", "42", "-o", ""])).toEqual(["json", "yaml"]);
    expect(await complete(script, ["baton", "enqueue", "emails", "--pri"])).toEqual(["--priority"]);
    expect(await complete(script, ["baton", "completion", ""])).toEqual(["bash", "zsh", "fish"]);
  });

  test("zsh and fish get scripts of their own", async () => {
    const [zsh, fish] = await Promise.all([baton(["completion", "zsh"]), baton(["completion", "fish"])]);
    expect(zsh).toMatchObject({ code: 0, stderr: "" });
    expect(zsh.stdout).toMatch(/^#compdef baton\n/);
    expect(zsh.stdout).toContain("compdef _baton baton");
    expect(fish).toMatchObject({ code: 0, stderr: "" });
    expect(fish.stdout).toContain("complete -c baton -f -a '(__baton_complete)'");
    // The same table: the verb and its alias lead to the same flags.
    for (const script of [zsh.stdout, fish.stdout]) expect(script).toMatch(/'jobs list'[| ]'jobs ls'/);
  });
});

describe("output formats and aliases", () => {
  test("jobs list: ls is list, -o yaml is the JSON document as YAML, -o wide adds columns", async () => {
    const { job: keyed } = await broker.jobs.enqueueJob({ queue: "cli-formats", dedupKey: "report-7", fairnessKey: "acme" });
    const { job: plain } = await broker.jobs.enqueueJob({ queue: "cli-formats" });

    const list = await baton(["jobs", "list", "--queue", "cli-formats"]);
    const ls = await baton(["jobs", "ls", "--queue", "cli-formats"]);
    expect(ls).toMatchObject({ code: 0, stderr: "" });
    // The two ran a moment apart: relative times ("now", "1s ago") and the column widths they set may differ.
    const timeless = (table: string) => table.replace(/\d+[smhd] ago|now/g, "T").replace(/ +/g, " ");
    expect(timeless(ls.stdout)).toBe(timeless(list.stdout));

    const json = await batonJson(["jobs", "ls", "--queue", "cli-formats"]);
    const yaml = await baton(["jobs", "ls", "--queue", "cli-formats", "-o", "yaml"]);
    expect(yaml).toMatchObject({ code: 0, stderr: "" });
    expect(parseYaml(yaml.stdout)).toEqual(json);
    expect(JSON.parse((await baton(["jobs", "ls", "--queue", "cli-formats", "--output", "json"])).stdout)).toEqual(json);

    const wide = await baton(["jobs", "list", "--queue", "cli-formats", "-o", "wide"]);
    expect(wide).toMatchObject({ code: 0, stderr: "" });
    const [header, ...rows] = wide.stdout.trimEnd().split("\n");
    expect(header).toMatch(/^\s*ID\s+QUEUE\s+STATE\s.*\sFINISHED\s+CHAIN\s+PARENT\s+DEDUP KEY\s+FAIRNESS KEY\s+LEASE EXPIRES\s+PROGRESS\s+LAST ERROR$/);
    expect(list.stdout).not.toContain("DEDUP KEY");
    // The dedup and fairness keys, then no lease and no progress: the job is waiting.
    expect(rows.find((row) => row.trim().startsWith(`${keyed!.id} `))).toMatch(/\sreport-7\s+acme\s+-\s+-$/);
    expect(rows.find((row) => row.trim().startsWith(`${plain!.id} `))).toMatch(/\s-\s+-\s+-\s+-$/);
  });

  test("queues, schedules and workers take -o wide and -o yaml; schedules rm deletes", async () => {
    await broker.jobs.enqueueJob({ queue: "cli-wide-queue" });
    expect((await baton(["queues", "update", "cli-wide-queue", "--concurrency-limit", "4"])).code).toBe(0);
    const queues = await baton(["queues", "ls", "-o", "wide"]);
    expect(queues.code).toBe(0);
    expect(queues.stdout).toMatch(
      /^QUEUE\s+STATUS\s.*OLDEST WAIT\s+MAX ATTEMPTS\s+LEASE\s+CONCURRENCY LIMIT\s+RATE LIMIT\s+FAIRNESS CONCURRENCY LIMIT\s+FAIRNESS RATE LIMIT$/m,
    );
    expect(queues.stdout).toMatch(/^cli-wide-queue\s+active\s.*\s-\s+-\s+4\s+-\s+-\s+-$/m);

    const created = await baton(["schedules", "create", "cli-wide", "--queue", "cli-wide-queue", "--cron", "0 3 * * *", "--priority", "3", "-o", "yaml"]);
    expect(created.code).toBe(0);
    expect(parseYaml(created.stdout)).toMatchObject({ schedule: { name: "cli-wide", priority: 3 } });
    const schedules = await baton(["schedules", "ls", "-o", "wide"]);
    expect(schedules.stdout).toMatch(/^NAME\s+QUEUE\s+CRON\s+TIME ZONE\s+NEXT RUN\s+LAST RUN\s+CATCH-UP\s+OVERLAP\s+PRIORITY\s+MAX ATTEMPTS\s+HEADERS$/m);
    expect(schedules.stdout).toMatch(/^cli-wide\s+cli-wide-queue\s+0 3 \* \* \*\s+UTC\s+\d{4}-\d\d-\d\dT03:00:00\.000Z \(in [^)]+\)\s+-\s+latest only\s+allow\s+3\s+queue default\s+-$/m);
    expect(await baton(["schedules", "rm", "cli-wide"])).toMatchObject({ code: 0, stdout: "deleted schedule cli-wide\n" });
    expect((await baton(["schedules", "rm", "cli-wide"])).code).toBe(4);

    startWorker("cli-wide-workers", () => "ok", "cli-wide-worker");
    await eventually(async () => (await broker.workers.listWorkers({ queue: "cli-wide-workers" })).workers.length > 0, { what: "the worker's stream" });
    const workers = await baton(["workers", "ls", "--queue", "cli-wide-workers", "-o", "wide"]);
    expect(workers.stdout).toMatch(/^cli-wide-worker\s+\S+\s+cli-wide-workers\s+-\s+0\/2\s+\d{4}-\d\d-\d\dT[\d:.]+Z \([^)]+\)\s/m);
  });

  test("help lists the aliases and resolves them", async () => {
    const top = await baton(["--help"]);
    for (const line of ["jobs list (ls)", "queues list (ls)", "schedules delete <name> (rm)", "workers list (ls)", "tokens list (ls)", "version", "completion <shell>"]) {
      expect(top.stdout).toContain(line);
    }
    const help = await baton(["help", "schedules", "rm"]);
    expect(help.stdout).toContain("usage: baton schedules delete <name>");
    expect(help.stdout).toContain("aliases: baton schedules rm");
    expect((await baton(["queues", "ls", "--help"])).stdout).toContain("usage: baton queues list");
  });
});
