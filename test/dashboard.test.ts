/**
 * The dashboard end to end: the UI is built from ui/ with Vite, served by a real broker at
 * /ui, and driven in headless Chromium (Debian's, installed by scripts/install-chromium.sh)
 * through playwright-core. Screenshots go to test-results/.
 *
 * Without /usr/bin/chromium the browser test is skipped with the reason; CI sets
 * BATON_REQUIRE_BROWSER=1 so that a missing browser fails instead.
 */
import { create } from "@bufbuild/protobuf";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Worker, createClient, runWorker } from "../clients/ts/src/index.js";
import { JobSchema, JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { QueueSchema } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { createClient as createRpcClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { chainTree } from "../ui/src/chain-tree.js";
import { formatBytes, stateLabel, traceIdOf, traceUrl } from "../ui/src/format.js";
import { QueueHistory } from "../ui/src/metrics.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { openStream } from "./helpers/stream.js";

const CHROMIUM = "/usr/bin/chromium";
const TRACE_TEMPLATE = "http://localhost:16686/search?service=baton&tags=%7B%22messaging.message.id%22%3A%22{chainId}%22%7D";
const RESULTS = path.resolve("test-results");

/** Waits for a page to show something: the views refresh every 1.5 to 2 seconds. */
const until = <T>(read: () => T | Promise<T>, timeout = 15_000) => expect.poll(read, { timeout, interval: 100 });

const skipReason = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing (install it with scripts/install-chromium.sh)`;
if (skipReason && process.env.BATON_REQUIRE_BROWSER === "1") throw new Error(`BATON_REQUIRE_BROWSER=1 but ${skipReason}`);
if (skipReason) console.warn(`test/dashboard.test.ts: browser tests skipped: ${skipReason}`);

let uiDir: string;
let broker: TestBroker;
const workers: Worker[] = [];

beforeAll(async () => {
  // Always this tree's ui/, never a stale dist/ui: the build takes about a second.
  uiDir = mkdtempSync(path.join(tmpdir(), "baton-ui-"));
  const build = spawnSync(
    process.execPath,
    ["node_modules/vite/bin/vite.js", "build", "--config", "ui/vite.config.ts", "--outDir", uiDir, "--emptyOutDir", "--logLevel", "warn"],
    { encoding: "utf8" },
  );
  if (build.status !== 0) throw new Error(`vite build failed:\n${build.stdout}\n${build.stderr}`);
  // Read by src/server/static-ui.ts on the first /ui request of this process.
  process.env.BATON_UI_DIR = uiDir;
  process.env.BATON_UI_TRACE_URL_TEMPLATE = TRACE_TEMPLATE;
  // 64 KiB pages: the schedules below span several ListSchedules pages by bytes.
  broker = await startTestBroker({ maxPageBytes: 64 * 1024 });
});

afterAll(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await broker?.stop();
  delete process.env.BATON_UI_DIR;
  delete process.env.BATON_UI_TRACE_URL_TEMPLATE;
  if (uiDir) rmSync(uiDir, { recursive: true, force: true });
});

describe("the dashboard's own logic", () => {
  test("sparklines: finished jobs per second and dead share per interval; count drops read as zero", () => {
    const history = new QueueHistory();
    const sample = (atMs: number, succeeded: number, dead: number) =>
      history.record([create(QueueSchema, { name: "q", succeeded: BigInt(succeeded), dead: BigInt(dead) })], atMs);
    sample(0, 0, 0);
    sample(2000, 10, 0);
    sample(4000, 4, 5); // retention deleted succeeded rows while 5 jobs died
    sample(6000, 4, 2); // RetryJobs revived 3
    expect(history.rates("q")).toEqual({ throughput: [5, 2.5, 0], failureRate: [0, 1, 0] });
    expect(history.rates("unknown")).toEqual({ throughput: [], failureRate: [] });
  });

  test("a chain's tree: continuations under their parent, dependants under a blocker, the rest under the root", () => {
    const job = (id: string, fields: { parentId?: string; dependsOn?: string[] } = {}) => create(JobSchema, { id, chainId: "7", ...fields });
    const nodes = chainTree([job("12", { dependsOn: ["9"] }), job("11"), job("9", { parentId: "7" }), job("7")], "7");
    expect(nodes.map((n) => [n.job.id, n.depth, n.link])).toEqual([
      ["7", 0, "root"],
      ["9", 1, "continues"],
      ["12", 2, "depends"],
      ["11", 1, "member"],
    ]);
  });

  test("payloads, states and trace links as people read them", () => {
    const bytes = (text: string) => new TextEncoder().encode(text);
    expect(formatBytes(bytes('{"a":[1,2]}'))).toEqual({ kind: "json", text: '{\n  "a": [\n    1,\n    2\n  ]\n}' });
    expect(formatBytes(bytes("{not json"))).toEqual({ kind: "text", text: "{not json" });
    expect(formatBytes(new Uint8Array([0xff, 0x00]))).toEqual({ kind: "binary", text: "ff 00" });
    expect(formatBytes(new Uint8Array())).toEqual({ kind: "empty", text: "" });
    expect(stateLabel({ state: JobState.SCHEDULED, attempt: 2, cancelRequested: false })).toBe("RETRYING");
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    expect(traceIdOf({ traceparent })).toBe("4bf92f3577b34da6a3ce929d0e0e4736");
    const ids = { chainId: "7", jobId: "9", queue: "e mails" };
    expect(traceUrl("http://j/search?chain={chainId}&job={jobId}&q={queue}", ids)).toBe("http://j/search?chain=7&job=9&q=e%20mails");
    expect(traceUrl("http://j/trace/{traceId}", ids)).toBeUndefined();
    expect(traceUrl("http://j/trace/{traceId}", { ...ids, traceId: traceIdOf({ traceparent }) })).toBe("http://j/trace/4bf92f3577b34da6a3ce929d0e0e4736");
    expect(traceUrl("", ids)).toBeUndefined();
  });
});

describe("serving /ui over HTTP/1.1", () => {
  const get = (pathname: string, init?: RequestInit) => fetch(`${broker.baseUrl}${pathname}`, { redirect: "manual", ...init });

  test("/ and /ui redirect to /ui/, which is the app", async () => {
    expect((await get("/")).headers.get("location")).toBe("/ui/");
    expect((await get("/ui?queue=a")).headers.get("location")).toBe("/ui/?queue=a");
    const index = await get("/ui/");
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/^text\/html/);
    expect(index.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(await index.text()).toMatch(/<script type="module" crossorigin src="\/ui\/assets\/index-[\w-]+\.js">/);
  });

  test("every page URL gets index.html (SPA fallback); assets are cached, missing ones are 404", async () => {
    const index = await (await get("/ui/")).text();
    for (const page of ["/ui/jobs", "/ui/jobs/42", "/ui/dead?queue=x"]) {
      const response = await get(page);
      expect(response.status, page).toBe(200);
      expect(await response.text()).toBe(index);
    }
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(index)![1]!;
    const asset = await get(script);
    expect(asset.headers.get("content-type")).toMatch(/^text\/javascript/);
    expect(asset.headers.get("cache-control")).toContain("immutable");
    expect((await get("/ui/assets/nope.js")).status).toBe(404);
    expect((await get("/ui/%2e%2e/package.json")).status).toBe(404);
    expect((await get("/ui/", { method: "POST" })).status).toBe(405);
    expect((await get("/healthz")).status).toBe(200);
    expect((await get("/elsewhere")).status).toBe(404);
  });

  test("/ui/config.json carries the trace URL template", async () => {
    expect(await (await get("/ui/config.json")).json()).toEqual({ traceUrlTemplate: TRACE_TEMPLATE });
  });
});

describe.skipIf(skipReason !== undefined)(`the dashboard in headless Chromium${skipReason ? ` (skipped: ${skipReason})` : ""}`, () => {
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    mkdirSync(RESULTS, { recursive: true });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // This machine reaches no outside hosts: keep Chromium from trying.
      args: ["--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    });
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.setDefaultTimeout(15_000);
  });

  afterAll(async () => {
    await browser?.close();
  });

  test("shows enqueued jobs, retries a dead job from the UI and sees it succeed, live", async () => {
    const client = createClient({ baseUrl: broker.baseUrl });
    const emails = await client.enqueueMany(
      ["ada", "grace", "edsger"].map((name) => ({
        queue: "emails",
        payload: { to: `${name}@example.com`, template: "welcome" },
        headers: { "x-tenant": "acme" },
      })),
    );
    // A job that dies at once: max_attempts 1 and a nack from a raw worker stream.
    const { job: doomed } = await client.enqueue("reports", { report: "monthly", month: "2026-10" }, { maxAttempts: 1, headers: { "x-requested-by": "ops" } });
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "flaky", queues: ["reports"], maxInFlight: 1 } });
    const delivery = await stream.next("job");
    stream.send({ case: "nack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken, error: "smtp timeout after 30s" } });
    expect(await stream.next("settled")).toMatchObject({ ok: true });
    stream.close();
    expect((await client.getJob(doomed.id)).state).toBe(JobState.DEAD);

    // The token field: kept in localStorage and sent as a bearer token on every call.
    const authorizations: string[] = [];
    page.on("request", (request) => {
      if (request.url().includes("/baton.v1.")) authorizations.push(request.headers()["authorization"] ?? "");
    });
    await page.goto(`${broker.baseUrl}/ui/`);
    await page.fill("input[name=token]", "s3cret");
    await page.click("form.token button");
    expect(await page.evaluate('localStorage.getItem("baton.token")')).toBe("s3cret");
    await page.reload();

    // Queues: counts per state.
    const reportsRow = page.locator("tr[data-queue=reports]");
    await until(() => reportsRow.locator("td.count-dead").textContent()).toBe("1");
    await until(() => page.locator("tr[data-queue=emails] td.count-available").textContent()).toBe("3");
    expect(authorizations.length).toBeGreaterThan(0);
    expect(authorizations.at(-1)).toBe("Bearer s3cret");
    await page.screenshot({ path: path.join(RESULTS, "dashboard-queues.png"), fullPage: true });

    // Jobs: the enqueued ones, filtered by queue.
    await page.click("header.top nav >> text=Jobs");
    await page.selectOption("select[name=queue]", "emails");
    await until(() => page.url()).toContain("/ui/jobs?queue=emails");
    for (const { job } of emails) await page.locator(`tr[data-job-id="${job.id}"]`).waitFor();
    await page.screenshot({ path: path.join(RESULTS, "dashboard-jobs.png") });
    expect(await page.locator(`tr[data-job-id="${doomed.id}"]`).count()).toBe(0);

    // Dead letters: retry the dead job with its row's button.
    await page.click("header.top nav >> text=Dead letters");
    const deadRow = page.locator(`tr[data-job-id="${doomed.id}"]`);
    await until(() => deadRow.textContent()).toContain("smtp timeout after 30s");
    await deadRow.locator("button.retry").click();
    await page.locator(".banner-ok", { hasText: `Job ${doomed.id} is queued again` }).waitFor();
    await deadRow.waitFor({ state: "detached" });
    expect((await client.getJob(doomed.id)).state).toBe(JobState.AVAILABLE);

    // The job's page, open while a worker runs it: it turns SUCCEEDED without a reload.
    await page.goto(`${broker.baseUrl}/ui/jobs/${doomed.id}`);
    const badge = page.locator("section.card h2 .badge").first();
    await until(() => badge.textContent()).toBe("AVAILABLE");
    // A second job of its chain (the TypeScript client's continueWith names no chain_id yet).
    const { job: follower } = await client.jobs.enqueueJob({ queue: "reports", chainId: doomed.id, payload: new TextEncoder().encode("archive") });
    await until(() => page.locator(`table.chain tr[data-job-id="${follower!.id}"] .badge`).textContent()).toBe("AVAILABLE");
    workers.push(
      runWorker({
        baseUrl: broker.baseUrl,
        queues: ["reports"],
        handler: (job, { progress }) => {
          progress(100, "rendered");
          return { pages: 12, url: `s3://reports/${job.id}.pdf` };
        },
      }),
    );
    await until(() => badge.textContent(), 30_000).toBe("SUCCEEDED");
    await until(() => page.locator("#result").textContent()).toContain('"pages": 12');
    expect(await page.locator("#payload").textContent()).toBe(JSON.stringify({ report: "monthly", month: "2026-10" }, null, 2));
    expect(await page.locator("table.kv").textContent()).toContain("x-requested-by");
    expect(await page.locator("table.errors").textContent()).toContain("smtp timeout after 30s");

    // Its chain as a tree: the root, then the other job of the chain.
    const chainRows = page.locator("table.chain tbody tr");
    await until(() => chainRows.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-job-id")))).toEqual([doomed.id, follower!.id]);
    await until(() => chainRows.nth(1).locator(".badge").textContent()).toBe("SUCCEEDED");
    expect(await page.locator("a", { hasText: "View trace" }).getAttribute("href")).toBe(TRACE_TEMPLATE.replace("{chainId}", doomed.id));
    await page.screenshot({ path: path.join(RESULTS, "dashboard.png"), fullPage: true });
  });

  test("retries every dead job of a queue at once (RetryJobs) after a confirmation", async () => {
    const client = createClient({ baseUrl: broker.baseUrl });
    const dead = await client.enqueueMany([1, 2].map((n) => ({ queue: "bulk", payload: { n }, maxAttempts: 1 })));
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "failing", queues: ["bulk"], maxInFlight: 2 } });
    const deliveries = [await stream.next("job"), await stream.next("job")];
    for (const d of deliveries) stream.send({ case: "nack", value: { jobId: d.job!.id, leaseToken: d.leaseToken, error: "upstream 503" } });
    for (let i = 0; i < 2; i++) expect(await stream.next("settled")).toMatchObject({ ok: true });
    stream.close();

    await page.goto(`${broker.baseUrl}/ui/dead?queue=bulk`);
    for (const { job } of dead) await page.locator(`tr[data-job-id="${job.id}"]`).waitFor();
    const dialogs: string[] = [];
    page.once("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    await page.locator(".dead-queues li[data-queue=bulk] button").click();
    await page.locator(".banner-ok", { hasText: '2 dead jobs of "bulk" are queued again.' }).waitFor();
    expect(dialogs).toEqual(['Retry all 2 dead jobs of queue "bulk"?']);
    for (const { job } of dead) expect((await client.getJob(job.id)).state).toBe(JobState.AVAILABLE);
    await until(() => page.locator("table.jobs tbody tr").count()).toBe(0);
  });

  test("searches jobs by header; deletes a ticked job, then cancels and deletes every job the filter matches, after a confirmation each", async () => {
    const client = createClient({ baseUrl: broker.baseUrl });
    const tagged = await client.enqueueMany([1, 2, 3].map((n) => ({ queue: "ui-search", payload: { n }, headers: { batch: "ui-7" } })));
    const { job: other } = await client.enqueue("ui-search", undefined, { headers: { batch: "ui-8" } });
    await page.goto(`${broker.baseUrl}/ui/jobs`);
    await page.fill("form.filters input[name=header]", "batch=ui-7");
    await page.click("form.filters button[type=submit]");
    await until(() => page.url()).toContain("header=batch%3Dui-7");
    await until(() => page.locator("table.jobs tbody tr").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-job-id")))).toEqual(
      tagged.map(({ job }) => job.id).reverse(),
    );
    const dialogs: string[] = [];
    page.on("dialog", (dialog) => {
      dialogs.push(dialog.message());
      void dialog.accept();
    });
    // A ticked job alone first, then everything the filter still matches.
    await page.check(`tr[data-job-id="${tagged[0]!.job.id}"] input.select`);
    await until(() => page.locator("button.delete-jobs").textContent()).toBe("Delete 1 selected");
    await page.click("button.delete-jobs");
    await page.locator(".banner-ok", { hasText: "1 jobs deleted." }).waitFor();
    await until(() => page.locator("table.jobs tbody tr").count()).toBe(2);
    await page.click("button.cancel-jobs");
    await page.locator(".banner-ok", { hasText: "2 jobs cancelled; 0 running jobs asked to stop." }).waitFor();
    for (const { job } of tagged.slice(1)) expect((await client.getJob(job.id)).state).toBe(JobState.CANCELLED);
    await page.click("button.delete-jobs");
    await page.locator(".banner-ok", { hasText: "2 jobs deleted." }).waitFor();
    await until(() => page.locator("table.jobs tbody tr").count()).toBe(0);
    expect(dialogs).toEqual([
      "Delete the 1 selected jobs? Running jobs are kept.",
      "Cancel every unfinished job matching this filter? Running jobs are asked to stop.",
      "Delete every job matching this filter? Running jobs are kept.",
    ]);
    page.removeAllListeners("dialog");
    expect((await client.getJob(other.id)).state).toBe(JobState.AVAILABLE);
  });

  test("lists cron schedules and connected workers", async () => {
    const schedules = createRpcClient(ScheduleService, createGrpcTransport({ baseUrl: broker.baseUrl }));
    await schedules.createSchedule({ schedule: { name: "nightly-report", queue: "reports", cron: "0 3 * * *", timeZone: "Europe/Paris" } });
    await page.click("header.top nav >> text=Schedules");
    const row = page.locator("tr[data-schedule=nightly-report]");
    await until(() => row.textContent()).toContain("0 3 * * *");
    expect(await row.textContent()).toContain("Europe/Paris");
    expect(await row.textContent()).toContain("latest only");

    // Pause, run now and resume from the page; the broker is the judge of each.
    await row.locator("button", { hasText: "Pause" }).click();
    await until(() => row.locator(".badge").textContent()).toBe("PAUSED");
    expect((await schedules.listSchedules({})).schedules.find((s) => s.name === "nightly-report")!.paused).toBe(true);
    await row.locator("button", { hasText: "Run now" }).click();
    const fired = await page.locator(".banner-ok", { hasText: 'Schedule "nightly-report" fired now: job ' }).textContent();
    const jobId = /job (\d+)\./.exec(fired!)![1]!;
    const client = createClient({ baseUrl: broker.baseUrl });
    expect((await client.getJob(jobId)).dedupKey).toMatch(/^schedule:nightly-report:trigger:/);
    client.close();
    await row.locator("button", { hasText: "Resume" }).click();
    await until(() => row.locator(".badge").count()).toBe(0);
    expect((await schedules.listSchedules({})).schedules.find((s) => s.name === "nightly-report")!.paused).toBe(false);
    await page.screenshot({ path: path.join(RESULTS, "dashboard-schedules.png") });

    workers.push(runWorker({ baseUrl: broker.baseUrl, queues: ["bulk"], workerId: "ui-test-worker", labels: { region: "eu", gpu: "a100" }, handler: () => "ok" }));
    await page.click("header.top nav >> text=Workers");
    await until(() => page.locator("table.workers").textContent()).toContain("ui-test-worker");
    expect(await page.locator("table.workers tr", { hasText: "ui-test-worker" }).textContent()).toContain("gpu=a100, region=eu");
    await page.screenshot({ path: path.join(RESULTS, "dashboard-workers.png") });

    // A job's page shows the labels its worker needs.
    const { job: labelled } = await client.jobs.enqueueJob({ queue: "ui-labelled", workerLabels: { gpu: "h100" } });
    await page.goto(`${broker.baseUrl}/ui/jobs/${labelled!.id}`);
    await until(() => page.locator(".fact", { hasText: "Worker labels" }).textContent()).toBe("Worker labelsgpu=h100");
  });

  test("shows every queue and every schedule, past one page of each (1000 queues, 64 KiB of schedules)", async () => {
    const names = Array.from({ length: 1010 }, (_, i) => `ui-many-${String(i).padStart(4, "0")}`);
    await createClient({ baseUrl: broker.baseUrl }).enqueueMany(names.map((queue) => ({ queue })));
    const schedules = createRpcClient(ScheduleService, createGrpcTransport({ baseUrl: broker.baseUrl }));
    for (const name of names.slice(0, 12)) {
      await schedules.createSchedule({ schedule: { name, queue: name, cron: "0 0 1 1 *", payload: new Uint8Array(20_000) } });
    }
    expect((await schedules.listSchedules({})).nextPageToken).not.toBe("");

    await page.click("header.top nav >> text=Queues");
    await until(() => page.locator("tr[data-queue^=ui-many-]").count()).toBe(1010);
    await page.click("header.top nav >> text=Schedules");
    await until(() => page.locator("tr[data-schedule^=ui-many-]").count()).toBe(12);
  });
});
