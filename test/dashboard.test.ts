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
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, type Page, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Worker, createClient, runWorker } from "../clients/ts/src/index.js";
import { JobSchema, JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { JobService } from "../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { WorkerService } from "../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { QueueConfigSchema, QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { OverlapPolicy, ScheduleSchema, ScheduleService } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { GetCurrentTokenResponseSchema, TokenRole, TokenService } from "../clients/ts/src/gen/baton/v1/token_service_pb.js";
import { Code, ConnectError } from "@connectrpc/connect";
import { createClient as createRpcClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { loadConfig } from "../src/config.js";
import { chainTree } from "../ui/src/chain-tree.js";
import { dagLayout } from "../ui/src/dag-layout.js";
import { formatBytes, isoFromLocalInput, localInputFromIso, stateLabel, traceIdOf, traceUrl } from "../ui/src/format.js";
import { permissionsOf } from "../ui/src/permissions.js";
import { QUEUE_SETTINGS, queueUpdate, settingText } from "../ui/src/queue-settings.js";
import { scheduleInputs, scheduleUpdate } from "../ui/src/schedule-edit.js";
import { ROUTES, type RouteName, matchRoute, routePath } from "../ui/src/routes.js";
import { type TestBroker, bearerTransport, startTestBroker } from "./helpers/broker.js";
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
  test("a chain's graph: every edge points to a later column; rows follow the predecessors; outside jobs and cycles are left out", () => {
    const job = (id: string, fields: { parentId?: string; dependsOn?: string[] } = {}) => create(JobSchema, { id, chainId: "1", ...fields });
    // 1 → 2 (continuation), 1 → 3, then 4 waits on 2 and 3, 5 on 3 and on 99 (not in the list).
    const layout = dagLayout([job("4", { dependsOn: ["2", "3"] }), job("1"), job("3", { parentId: "1" }), job("2", { parentId: "1" }), job("5", { dependsOn: ["3", "99"] })]);
    expect(layout.nodes.map((n) => [n.job.id, n.layer, n.row])).toEqual([
      ["1", 0, 0],
      ["2", 1, 0],
      ["3", 1, 1],
      ["4", 2, 0],
      ["5", 2, 1],
    ]);
    expect(layout.edges).toEqual([
      { from: "2", to: "4", kind: "depends" },
      { from: "3", to: "4", kind: "depends" },
      { from: "1", to: "3", kind: "continues" },
      { from: "1", to: "2", kind: "continues" },
      { from: "3", to: "5", kind: "depends" },
    ]);
    expect([layout.layers, layout.rows]).toEqual([3, 2]);
    const cycle = dagLayout([job("7", { dependsOn: ["8"] }), job("8", { dependsOn: ["7"] })]);
    expect(cycle.edges).toHaveLength(1);
    for (const edge of cycle.edges) {
      const layer = (id: string) => cycle.nodes.find((n) => n.job.id === id)!.layer;
      expect(layer(edge.to)).toBeGreaterThan(layer(edge.from));
    }
  });

  test("routes: each path finds its page and parameters; unknown paths are the overview", () => {
    expect(matchRoute("")).toEqual({ name: "queues", params: {} });
    expect(matchRoute("jobs/42")).toEqual({ name: "job", params: { id: "42" } });
    expect(matchRoute("queues/e%20mails")).toEqual({ name: "queue", params: { queue: "e mails" } });
    expect(matchRoute("nowhere/at/all")).toEqual({ name: "queues", params: {} });
    expect(routePath("queues/:queue", { queue: "a/b" })).toBe("queues/a%2Fb");
    for (const route of ROUTES) expect(matchRoute(routePath(route.path, { id: "7", queue: "q" })).name).toBe(route.name);
  });

  test("what the header's token may do: viewers and workers change nothing, producers change jobs, admins everything", () => {
    const as = (role: TokenRole) => permissionsOf(create(GetCurrentTokenResponseSchema, { authentication: true, role }), undefined);
    expect(as(TokenRole.VIEWER)).toEqual({ role: "viewer", changeJobs: false, admin: false });
    expect(as(TokenRole.WORKER)).toEqual({ role: "worker", changeJobs: false, admin: false });
    expect(as(TokenRole.PRODUCER)).toEqual({ role: "producer", changeJobs: true, admin: false });
    expect(as(TokenRole.ADMIN)).toEqual({ role: "admin", changeJobs: true, admin: true });
    // Without auth the broker answers admin, and the header names no role.
    expect(permissionsOf(create(GetCurrentTokenResponseSchema, { authentication: false, role: TokenRole.ADMIN }), undefined)).toEqual({ role: undefined, changeJobs: true, admin: true });
    // Pending or refused: nothing offered; a broker without the RPC: everything, the broker judges.
    expect(permissionsOf(undefined, undefined)).toEqual({ role: undefined, changeJobs: false, admin: false });
    expect(permissionsOf(undefined, new ConnectError("no", Code.Unimplemented))).toEqual({ role: undefined, changeJobs: true, admin: true });
  });

  test("a queue's settings form: only edited settings go in the update mask; empty resets; what is not a number is refused", () => {
    const current = create(QueueConfigSchema, { concurrencyLimit: 4, leaseDuration: durationFromMs(30_000), fairnessConcurrencyLimit: 2, fairnessKeyLimit: 2 });
    const setting = (path: string) => QUEUE_SETTINGS.find((s) => s.path === path)!;
    expect(settingText(current, setting("lease_duration"))).toBe("30s");
    expect(settingText(current, setting("fairness_concurrency_limit"))).toBe("2");
    expect(settingText(current, setting("fairness_rate_limit"))).toBe("none");
    expect(settingText(current, setting("max_attempts"))).toBe("broker default");
    // The deprecated name is not a setting of its own.
    expect(QUEUE_SETTINGS.map((s) => s.path)).not.toContain("fairness_key_limit");

    const inputs = { concurrency_limit: "4", lease_duration: "30", fairness_concurrency_limit: "2" };
    expect(queueUpdate(current, inputs)).toEqual({ config: create(QueueConfigSchema), paths: [] });
    const update = queueUpdate(current, { ...inputs, lease_duration: " 90 ", fairness_concurrency_limit: "", fairness_rate_limit: "2.5" });
    expect("paths" in update && update.paths).toEqual(["lease_duration", "fairness_concurrency_limit", "fairness_rate_limit"]);
    expect("config" in update && update.config).toEqual(create(QueueConfigSchema, { leaseDuration: durationFromMs(90_000), fairnessRateLimit: 2.5 }));
    // Ranges are the broker's to judge: a negative limit is sent as typed.
    expect(queueUpdate(current, { ...inputs, concurrency_limit: "-1" })).toMatchObject({ paths: ["concurrency_limit"] });

    expect(queueUpdate(current, { ...inputs, rate_limit: "ten" })).toEqual({ error: 'rate limit: "ten" is not a number' });
    expect(queueUpdate(current, { ...inputs, max_attempts: "0x10" })).toEqual({ error: 'max attempts: "0x10" is not a number' });
    expect(queueUpdate(current, { ...inputs, concurrency_limit: "2.5" })).toEqual({ error: 'concurrency limit: "2.5" is not a whole number' });
    expect(queueUpdate(current, { ...inputs, concurrency_limit: "1e10" })).toEqual({ error: "concurrency limit: 1e10 is out of range (at most 2147483647)" });
  });

  test("a schedule's form: only edited fields go in the update mask; empty resets; what is not a number is refused", () => {
    const base = create(ScheduleSchema, { name: "nightly", queue: "reports", cron: "0 3 * * *", priority: 2, catchupWindow: durationFromMs(600_000) });
    const inputs = scheduleInputs(base);
    expect(inputs).toEqual({ queue: "reports", cron: "0 3 * * *", time_zone: "", priority: "2", max_attempts: "", catchup_window: "600", overlap_policy: "allow" });
    expect(scheduleUpdate(base, inputs)).toEqual({ schedule: create(ScheduleSchema, { name: "nightly" }), paths: [] });
    expect(scheduleUpdate(base, { ...inputs, cron: " 30 4 * * * ", catchup_window: "", overlap_policy: "skip", max_attempts: "5" })).toEqual({
      schedule: create(ScheduleSchema, { name: "nightly", cron: "30 4 * * *", overlapPolicy: OverlapPolicy.SKIP, maxAttempts: 5 }),
      paths: ["cron", "max_attempts", "catchup_window", "overlap_policy"],
    });
    expect(scheduleUpdate(base, { ...inputs, priority: "high" })).toEqual({ error: 'priority: "high" is not a number' });
    expect(scheduleUpdate(base, { ...inputs, max_attempts: "1.5" })).toEqual({ error: 'max attempts: "1.5" is not a whole number' });
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
    // The job search's creation-time inputs: local time in the input, an instant in the URL.
    expect(localInputFromIso(isoFromLocalInput("2026-12-07T10:30"))).toBe("2026-12-07T10:30");
    expect(new Date(isoFromLocalInput("2026-12-07T10:30")).getTime()).toBe(new Date(2026, 11, 7, 10, 30).getTime());
    expect([isoFromLocalInput(""), isoFromLocalInput("tomorrow"), localInputFromIso(""), localInputFromIso("nope")]).toEqual(["", "", "", ""]);
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

  test("without authentication, GetCurrentToken says so and answers admin", async () => {
    const tokens = createRpcClient(TokenService, createGrpcTransport({ baseUrl: broker.baseUrl }));
    expect(await tokens.getCurrentToken({})).toMatchObject({ authentication: false, role: TokenRole.ADMIN, name: "" });
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
    // Retried from the page (RetryJobs by the filter), then cancelled again.
    await page.click("button.retry-jobs");
    await page.locator(".banner-ok", { hasText: "2 jobs queued again." }).waitFor();
    for (const { job } of tagged.slice(1)) expect((await client.getJob(job.id)).state).toBe(JobState.AVAILABLE);
    await page.click("button.cancel-jobs");
    await page.locator(".banner-ok", { hasText: "2 jobs cancelled; 0 running jobs asked to stop." }).waitFor();
    await until(() => page.locator('table.jobs tbody tr[data-state="CANCELLED"]').count()).toBe(2);
    await page.click("button.delete-jobs");
    await page.locator(".banner-ok", { hasText: "2 jobs deleted." }).waitFor();
    await until(() => page.locator("table.jobs tbody tr").count()).toBe(0);
    expect(dialogs).toEqual([
      "Delete the 1 selected jobs? Running jobs are kept.",
      "Cancel every unfinished job matching this filter? Running jobs are asked to stop.",
      "Retry every dead or cancelled job matching this filter? Only dead and cancelled jobs are revived.",
      "Cancel every unfinished job matching this filter? Running jobs are asked to stop.",
      "Delete every job matching this filter? Running jobs are kept.",
    ]);
    page.removeAllListeners("dialog");
    expect((await client.getJob(other.id)).state).toBe(JobState.AVAILABLE);
  });

  test("searches jobs by creation time; a bound that is no time says so", async () => {
    const { job } = await createClient({ baseUrl: broker.baseUrl }).enqueue("ui-created", { n: 1 });
    const created = timestampMs(job.createTime!);
    await page.goto(`${broker.baseUrl}/ui/jobs?queue=ui-created&after=${encodeURIComponent(new Date(created + 120_000).toISOString())}`);
    await page.locator("p.empty", { hasText: "No jobs match." }).waitFor();
    expect(await page.inputValue("form.filters input[name=after]")).not.toBe("");
    // Two minutes earlier, typed as local time, to the minute.
    const earlier = await page.evaluate((ms) => new Date(ms - new Date(ms).getTimezoneOffset() * 60_000).toISOString().slice(0, 16), created - 120_000);
    await page.fill("form.filters input[name=after]", earlier);
    await page.click("form.filters button[type=submit]");
    await page.locator(`tr[data-job-id="${job.id}"]`).waitFor();
    const after = new URL(page.url()).searchParams.get("after")!;
    expect(Date.parse(after)).toBeLessThan(created);
    expect(created - Date.parse(after)).toBeLessThan(180_000);
    await page.fill("form.filters input[name=after]", "");
    await page.fill("form.filters input[name=before]", earlier);
    await page.click("form.filters button[type=submit]");
    await page.locator("p.empty", { hasText: "No jobs match." }).waitFor();
    expect(new URL(page.url()).searchParams.has("after")).toBe(false);

    await page.goto(`${broker.baseUrl}/ui/jobs?queue=ui-created&before=yesterday`);
    await page.locator(".banner-error", { hasText: "Created after and before must be dates with a time." }).waitFor();
    expect(await page.locator("button.delete-jobs").count()).toBe(0);
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

    // Edited from the page (UpdateSchedule with only the edited fields in the mask).
    await row.locator("button", { hasText: "Edit" }).click();
    const form = page.locator("form.schedule-edit[data-schedule=nightly-report]");
    await form.getByLabel("cron").fill("30 4 * * *");
    await form.getByLabel("catch-up window").fill("3600");
    await form.getByLabel("overlap").selectOption("skip");
    await form.locator("button.save-schedule").click();
    await page.locator(".banner-ok", { hasText: 'Schedule "nightly-report": saved cron, catch-up window, overlap.' }).waitFor();
    const edited = (await schedules.listSchedules({})).schedules.find((s) => s.name === "nightly-report")!;
    expect(edited).toMatchObject({ cron: "30 4 * * *", timeZone: "Europe/Paris", queue: "reports", catchupWindow: { seconds: 3600n }, overlapPolicy: OverlapPolicy.SKIP });
    await until(() => row.textContent()).toContain("within 1h");
    expect(await row.textContent()).toContain("skip while running");
    // A cron the broker refuses: its INVALID_ARGUMENT in the form, the schedule unchanged.
    await row.locator("button", { hasText: "Edit" }).click();
    await form.getByLabel("cron").fill("61 * * * *");
    await form.locator("button.save-schedule").click();
    await form.locator(".banner-error", { hasText: "InvalidArgument: schedule.cron" }).waitFor();
    await page.screenshot({ path: path.join(RESULTS, "dashboard-schedule-edit.png") });
    expect((await schedules.listSchedules({})).schedules.find((s) => s.name === "nightly-report")).toEqual(edited);
    await form.locator("button", { hasText: "cancel" }).click();
    await form.waitFor({ state: "detached" });
    await page.screenshot({ path: path.join(RESULTS, "dashboard-schedules.png") });

    workers.push(runWorker({ baseUrl: broker.baseUrl, queues: ["bulk"], workerId: "ui-test-worker", labels: { region: "eu", gpu: "a100" }, handler: () => "ok" }));
    await page.click("header.top nav >> text=Workers");
    await until(() => page.locator("table.workers").textContent()).toContain("ui-test-worker");
    expect(await page.locator("table.workers tr", { hasText: "ui-test-worker" }).textContent()).toContain("gpu=a100, region=eu");
    await page.screenshot({ path: path.join(RESULTS, "dashboard-workers.png") });

    // A job's page shows the labels its worker needs.
    const { job: labelled } = await client.jobs.enqueueJob({ queue: "ui-labelled", workerLabels: { gpu: "h100" }, fairnessKey: "tenant-9", dedupKey: "render-77" });
    await page.goto(`${broker.baseUrl}/ui/jobs/${labelled!.id}`);
    await until(() => page.locator(".fact", { hasText: "Worker labels" }).textContent()).toBe("Worker labelsgpu=h100");
    expect(await page.locator(".fact", { hasText: "Fairness key" }).textContent()).toBe("Fairness keytenant-9");
    expect(await page.locator(".fact", { hasText: "Dedup key" }).textContent()).toBe("Dedup keyrender-77");
    // Deleted from its page (DeleteJob), after a confirmation; the page goes to its queue's jobs.
    page.once("dialog", (dialog) => void dialog.accept());
    await page.click("button.delete");
    await until(() => page.url()).toContain("/ui/jobs?queue=ui-labelled");
    await expect(client.getJob(labelled!.id)).rejects.toMatchObject({ code: Code.NotFound });
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
  test("the throughput chart and the chain's graph come from the broker and survive a reload", async () => {
    // A chain: the root's ack continues it with one job; two more wait on the root and on each other.
    const { job: root } = await broker.jobs.enqueueJob({ queue: "ui-dag" });
    const { job: first } = await broker.jobs.enqueueJob({ queue: "ui-dag", chainId: root!.id, dependsOn: [root!.id] });
    const { job: second } = await broker.jobs.enqueueJob({ queue: "ui-dag", chainId: root!.id, dependsOn: [root!.id, first!.id] });
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "dag", queues: ["ui-dag"], maxInFlight: 1 } });
    const delivery = await stream.next("job");
    expect(delivery.job!.id).toBe(root!.id);
    const rootResult = new TextEncoder().encode('{"rows":1234}');
    stream.send({ case: "ack", value: { jobId: root!.id, leaseToken: delivery.leaseToken, result: rootResult, continueWith: [{ queue: "ui-dag" }] } });
    expect(await stream.next("settled")).toMatchObject({ ok: true });
    stream.close();
    const continuation = (await broker.jobs.listJobs({ filter: { chainId: root!.id } })).jobs.find((j) => j.parentId === root!.id)!;
    await broker.server.broker.flushHistory();

    await page.goto(`${broker.baseUrl}/ui/jobs/${root!.id}`);
    const nodes = page.locator("svg.dag g.dag-node");
    await until(() => nodes.count()).toBe(4);
    await page.locator(`svg.dag g.dag-node.state-succeeded.current[data-job-id="${root!.id}"]`).waitFor();
    await page.locator(`svg.dag g.dag-node.state-blocked[data-job-id="${second!.id}"]`).waitFor();
    const edges = await page.locator("svg.dag path.dag-edge").evaluateAll((paths) => paths.map((p) => `${p.getAttribute("class")} ${p.getAttribute("data-from")}→${p.getAttribute("data-to")}`));
    expect(edges.sort()).toEqual(
      [
        `dag-edge dag-edge-continues ${root!.id}→${continuation.id}`,
        `dag-edge dag-edge-depends ${root!.id}→${first!.id}`,
        `dag-edge dag-edge-depends ${root!.id}→${second!.id}`,
        `dag-edge dag-edge-depends ${first!.id}→${second!.id}`,
      ].sort(),
    );
    await page.screenshot({ path: path.join(RESULTS, "dashboard-dag.png"), fullPage: true });
    // A click on a box opens that job.
    await page.locator(`svg.dag g.dag-node[data-job-id="${second!.id}"]`).click();
    await until(() => page.url()).toContain(`/ui/jobs/${second!.id}`);
    // Its blockers, each linked, with its state and the start of its result.
    const blockers = page.locator("table.blockers tbody tr");
    await until(() => blockers.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-job-id")))).toEqual([root!.id, first!.id]);
    expect(await blockers.nth(0).locator(".badge").textContent()).toBe("SUCCEEDED");
    expect(await blockers.nth(0).locator("td.result").textContent()).toBe('{"rows":1234}');
    expect(await blockers.nth(0).locator("a").getAttribute("href")).toBe(`/ui/jobs/${root!.id}`);
    expect(await blockers.nth(1).locator(".badge").textContent()).toBe("AVAILABLE");
    expect(await blockers.nth(1).locator("td.result").textContent()).toBe("not yet");

    // The queue's page: its counts from the broker's history, the same after a reload.
    await page.goto(`${broker.baseUrl}/ui/queues/ui-dag`);
    const history = page.locator('.history[data-queue="ui-dag"]');
    const count = (name: string) => history.locator(`[data-count="${name}"] b`).textContent();
    for (let reload = 0; reload < 2; reload++) {
      await until(() => count("enqueued")).toBe("4");
      expect(await count("succeeded")).toBe("1");
      expect(await history.locator("svg.history-chart").getAttribute("data-points")).toBe("60");
      expect(await history.locator("rect.history-succeeded").count()).toBe(1);
      if (reload === 0) await page.reload();
    }
    await history.locator(".history-windows button", { hasText: "7d" }).click();
    await until(() => history.locator(".history-windows button.active").textContent()).toBe("7d");
    await until(() => count("enqueued")).toBe("4");
    await page.screenshot({ path: path.join(RESULTS, "dashboard-queue.png"), fullPage: true });

    // The overview charts every queue together.
    await page.click("header.top nav >> text=Queues");
    const all = page.locator('.history[data-queue=""]');
    await until(async () => Number(await all.locator('[data-count="enqueued"]').getAttribute("data-value"))).toBeGreaterThanOrEqual(4);
  });

  test("an admin edits a queue's limits in its page; the broker's refusal of a bad value shows there and changes nothing", async () => {
    const queues = createRpcClient(QueueService, createGrpcTransport({ baseUrl: broker.baseUrl }));
    await broker.jobs.enqueueJob({ queue: "ui-limits" });
    await queues.updateQueue({ queue: "ui-limits", config: { concurrencyLimit: 8 } });
    await page.goto(`${broker.baseUrl}/ui/queues/ui-limits`);
    const setting = (path: string) => page.locator(`table.settings tr[data-setting="${path}"] td`);
    await until(() => setting("concurrency_limit").textContent()).toBe("8");
    expect(await setting("fairness_concurrency_limit").textContent()).toBe("none");
    expect(await page.locator("table.settings").textContent()).not.toContain("fairness key limit");

    await page.click("button.edit-settings");
    await page.getByLabel("fairness concurrency limit").fill("3");
    await page.getByLabel("fairness rate limit").fill("2.5");
    await page.getByLabel("lease").fill("45");
    await page.click("button.save-settings");
    await page.locator(".banner-ok", { hasText: "Saved lease, fairness concurrency limit, fairness rate limit." }).waitFor();
    const saved = (await queues.getQueue({ queue: "ui-limits" })).queue!.config!;
    expect(saved).toMatchObject({ concurrencyLimit: 8, fairnessConcurrencyLimit: 3, fairnessKeyLimit: 3, fairnessRateLimit: 2.5, leaseDuration: { seconds: 45n } });
    await until(() => setting("fairness_rate_limit").textContent()).toBe("2.5/s");
    expect(await setting("fairness_concurrency_limit").textContent()).toBe("3");
    expect(await setting("lease_duration").textContent()).toBe("45s");

    // Not a number: refused in the page, nothing sent.
    await page.click("button.edit-settings");
    await page.getByLabel("rate limit", { exact: true }).fill("ten");
    await page.click("button.save-settings");
    await page.locator(".banner-error", { hasText: 'rate limit: "ten" is not a number' }).waitFor();
    // Out of the broker's range: its INVALID_ARGUMENT, naming the field, and the other edit in the same save is not applied either.
    await page.getByLabel("rate limit", { exact: true }).fill("");
    await page.getByLabel("concurrency limit", { exact: true }).fill("5");
    await page.getByLabel("fairness concurrency limit").fill("-2");
    await page.click("button.save-settings");
    await page.locator(".banner-error", { hasText: "InvalidArgument: config.fairness_concurrency_limit must be between 1 and 1000000 (0 resets it)" }).waitFor();
    expect((await queues.getQueue({ queue: "ui-limits" })).queue!.config).toEqual(saved);
    expect(await page.getByLabel("fairness concurrency limit").inputValue()).toBe("-2");
    await page.screenshot({ path: path.join(RESULTS, "dashboard-queue-settings.png"), fullPage: true });
    // Emptied, a limit is reset.
    await page.getByLabel("concurrency limit", { exact: true }).fill("");
    await page.getByLabel("fairness concurrency limit").fill("3");
    await page.click("button.save-settings");
    await page.locator(".banner-ok", { hasText: "Saved concurrency limit." }).waitFor();
    expect((await queues.getQueue({ queue: "ui-limits" })).queue!.config).toMatchObject({ concurrencyLimit: 0, fairnessConcurrencyLimit: 3 });
    await until(() => setting("concurrency_limit").textContent()).toBe("none");
  });

  test("a viewer token sees every page of the dashboard, with data, and is offered no change; the broker refuses each", async () => {
    const secret = (name: string) => `baton_${randomBytes(32).toString("base64url")}_${name}`;
    const [viewerSecret, adminSecret] = [secret("viewer"), secret("admin")];
    const dir = mkdtempSync(path.join(tmpdir(), "baton-ui-tokens-"));
    const tokensFile = path.join(dir, "tokens");
    writeFileSync(tokensFile, `ui-viewer viewer * ${viewerSecret}\nui-admin admin * ${adminSecret}\n`);
    const secured = await startTestBroker({ auth: loadConfig({ BATON_AUTH: "on", BATON_AUTH_TOKENS_FILE: tokensFile }).auth });
    const asAdmin = bearerTransport(secured.baseUrl, adminSecret);
    const jobs = createRpcClient(JobService, asAdmin);
    const schedules = createRpcClient(ScheduleService, asAdmin);
    const idle = openStream(createRpcClient(WorkerService, asAdmin), { case: "hello", value: { workerId: "v-worker", queues: ["v-idle"], maxInFlight: 1 } });
    const viewerPage = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    viewerPage.setDefaultTimeout(15_000);
    try {
      // A chain whose root dies (its dependant is settled with it), a job that waits, a schedule, a worker.
      const { job: root } = await jobs.enqueueJob({ queue: "v-reports", maxAttempts: 1, payload: new TextEncoder().encode('{"report":"q3"}') });
      const { job: dependant } = await jobs.enqueueJob({ queue: "v-reports", chainId: root!.id, dependsOn: [root!.id] });
      const failing = openStream(createRpcClient(WorkerService, asAdmin), { case: "hello", value: { workerId: "v-failing", queues: ["v-reports"], maxInFlight: 1 } });
      const delivery = await failing.next("job");
      failing.send({ case: "nack", value: { jobId: root!.id, leaseToken: delivery.leaseToken, error: "smtp down" } });
      expect(await failing.next("settled")).toMatchObject({ ok: true });
      failing.close();
      const { job: waiting } = await jobs.enqueueJob({ queue: "v-reports" });
      await schedules.createSchedule({ schedule: { name: "v-nightly", queue: "v-reports", cron: "0 3 * * *" } });
      await secured.server.broker.flushHistory();

      await viewerPage.goto(`${secured.baseUrl}/ui/`);
      await viewerPage.fill("input[name=token]", viewerSecret);
      await viewerPage.click("form.token button");
      await viewerPage.locator(".role[data-role=viewer]").waitFor();

      const see = (selector: string) => viewerPage.locator(selector).first().waitFor({ state: "attached" });
      const params = { queue: "v-reports", id: root!.id };
      // Every route of the router must be here (the type says so), each with what it shows.
      const shows: Record<RouteName, () => Promise<void>> = {
        queues: async () => {
          await until(() => viewerPage.locator("tr[data-queue=v-reports] td.count-dead").textContent()).toBe("1");
          await until(() => viewerPage.locator('.history[data-queue=""] [data-count="dead"] b').textContent()).toBe("1");
        },
        queue: async () => {
          await until(() => viewerPage.locator('.history[data-queue="v-reports"] [data-count="enqueued"] b').textContent()).toBe("3");
          await see("table.settings");
        },
        jobs: () => see(`tr[data-job-id="${waiting!.id}"]`),
        job: async () => {
          await until(() => viewerPage.locator("#payload").textContent()).toContain('"report": "q3"');
          await see(`svg.dag path.dag-edge-depends[data-from="${root!.id}"][data-to="${dependant!.id}"]`);
          await until(() => viewerPage.locator("table.errors").textContent()).toContain("smtp down");
        },
        dead: () => see(`table.jobs tr[data-job-id="${root!.id}"]`),
        schedules: () => see("tr[data-schedule=v-nightly]"),
        workers: async () => {
          await until(() => viewerPage.locator("table.workers").textContent()).toContain("v-worker");
        },
      };
      for (const route of ROUTES) {
        await viewerPage.goto(`${secured.baseUrl}/ui/${routePath(route.path, params)}`);
        await viewerPage.locator(".role[data-role=viewer]").waitFor();
        await shows[route.name]();
        expect(await viewerPage.locator(".banner-error").count(), route.name).toBe(0);
        // Only controls that read: pages, chart windows, filters, links.
        const changes = await viewerPage
          .locator("main button, main input[type=checkbox]")
          .evaluateAll((controls) => controls.filter((c) => !c.closest(".pager, .history-windows, form.filters") && !c.classList.contains("link")).map((c) => c.outerHTML));
        expect(changes, route.name).toEqual([]);
        await viewerPage.screenshot({ path: path.join(RESULTS, `dashboard-viewer-${route.name}.png`), fullPage: true });
      }

      // Called anyway, from the page with the viewer's token, every change is PERMISSION_DENIED.
      const calls: [string, unknown][] = [
        ["JobService/CancelJob", { id: waiting!.id }],
        ["JobService/RetryJob", { id: root!.id }],
        ["JobService/DeleteJob", { id: waiting!.id }],
        ["JobService/CancelJobs", { filter: { queue: "v-reports" } }],
        ["JobService/RetryJobs", { filter: { queue: "v-reports" } }],
        ["JobService/DeleteJobs", { filter: { queue: "v-reports" } }],
        ["QueueService/PauseQueue", { queue: "v-reports" }],
        ["QueueService/UpdateQueue", { queue: "v-reports", config: { maxAttempts: 3 } }],
        ["ScheduleService/TriggerSchedule", { name: "v-nightly" }],
        ["ScheduleService/PauseSchedule", { name: "v-nightly" }],
        ["ScheduleService/DeleteSchedule", { name: "v-nightly" }],
      ];
      const answers = await viewerPage.evaluate(
        async ({ calls, token }) =>
          Promise.all(
            calls.map(async ([method, body]) => {
              const response = await fetch(`/baton.v1.${method}`, {
                method: "POST",
                headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
                body: JSON.stringify(body),
              });
              return `${method} ${response.status} ${((await response.json()) as { code: string }).code}`;
            }),
          ),
        { calls, token: viewerSecret },
      );
      expect(answers).toEqual(calls.map(([method]) => `${method} 403 permission_denied`));
      expect((await jobs.getJob({ id: waiting!.id })).job!.state).toBe(JobState.AVAILABLE);
      expect((await createRpcClient(QueueService, asAdmin).getQueue({ queue: "v-reports" })).queue!.paused).toBe(false);
      expect((await schedules.listSchedules({})).schedules.map((s) => [s.name, s.paused])).toEqual([["v-nightly", false]]);
    } finally {
      idle.close();
      await viewerPage.close();
      await secured.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
