import { Code, ConnectError, type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { QueueService } from "../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";

/**
 * ListQueues and ListSchedules page like ListJobs: keyset pages in name order, at most
 * page_size rows, ListSchedules also cut at BATON_MAX_PAGE_BYTES of payloads and headers, so
 * a million queue names or a thousand 1 MiB schedules never make one response.
 */
const MiB = 1024 * 1024;
let broker: TestBroker;
let queues: Client<typeof QueueService>;
let schedules: Client<typeof ScheduleService>;

beforeAll(async () => {
  broker = await startTestBroker({ maxPageBytes: 2.5 * MiB });
  const transport = createGrpcTransport({ baseUrl: broker.baseUrl });
  queues = createClient(QueueService, transport);
  schedules = createClient(ScheduleService, transport);
});

afterAll(async () => {
  await broker?.stop();
});

/** Every page of a List call, as lists of names, stopping after 50 pages whatever the tokens. */
async function pagesOf(list: (pageToken: string) => Promise<{ names: string[]; nextPageToken: string }>): Promise<string[][]> {
  const pages: string[][] = [];
  let pageToken = "";
  do {
    const page = await list(pageToken);
    pages.push(page.names);
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && pages.length < 50);
  return pages;
}

const sorted = (names: string[]) => [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

test("ListQueues pages by count: every queue once, in name order, whether it has jobs, settings or both", async () => {
  // Queues exist through jobs (q-job-*), through settings only (q-set-*), or both (q-both-*).
  const withJobs = Array.from({ length: 6 }, (_, i) => `q-job-${i}`);
  const withSettings = Array.from({ length: 4 }, (_, i) => `q-set-${i}`);
  const withBoth = ["q-both-0", "q-both-1"];
  await broker.jobs.enqueueJobs({ jobs: [...withJobs, ...withBoth, "q-job-0"].map((queue) => ({ queue })) });
  for (const queue of [...withSettings, ...withBoth]) await queues.pauseQueue({ queue });
  const all = sorted([...withJobs, ...withSettings, ...withBoth]);

  const pages = await pagesOf(async (pageToken) => {
    const page = await queues.listQueues({ pageSize: 5, pageToken });
    return { names: page.queues.map((q) => q.name), nextPageToken: page.nextPageToken };
  });
  expect(pages).toEqual([all.slice(0, 5), all.slice(5, 10), all.slice(10)]);

  // A page holds the counts and settings of its queues, as the unpaged list did.
  const { queues: first } = await queues.listQueues({ pageSize: 1, pageToken: (await queues.listQueues({ pageSize: 1 })).nextPageToken });
  expect(first[0]).toMatchObject({ name: "q-both-1", paused: true, available: 1n });
  const { queues: jobQueue } = await queues.listQueues({ pageSize: 1, pageToken: (await queues.listQueues({ pageSize: 2 })).nextPageToken });
  expect(jobQueue[0]).toMatchObject({ name: "q-job-0", paused: false, available: 2n });

  // page_size 0 is 100: all twelve on one page, and no token after the last.
  const whole = await queues.listQueues({});
  expect(whole.queues.map((q) => q.name)).toEqual(all);
  expect(whole.nextPageToken).toBe("");
});

test("ListSchedules pages by count, in name order, and a page ends at the byte budget", async () => {
  const names = ["s-e", "s-a", "s-d", "s-c", "s-b", "s-f", "s-g"];
  for (const name of names) {
    await schedules.createSchedule({ schedule: { name, queue: "q", cron: "0 0 1 1 *", payload: new Uint8Array(10) } });
  }
  const byCount = await pagesOf(async (pageToken) => {
    const page = await schedules.listSchedules({ pageSize: 3, pageToken });
    return { names: page.schedules.map((s) => s.name), nextPageToken: page.nextPageToken };
  });
  expect(byCount).toEqual([["s-a", "s-b", "s-c"], ["s-d", "s-e", "s-f"], ["s-g"]]);

  // Five 1 MiB schedules after them in name order: 2.5 MiB holds the small ones and two big
  // ones, then two, then the last alone (a schedule bigger than the budget still comes).
  for (let i = 0; i < 5; i++) {
    await schedules.createSchedule({ schedule: { name: `t-${i}`, queue: "q", cron: "0 0 1 1 *", payload: new Uint8Array(MiB).fill(i) } });
  }
  const byBytes = await pagesOf(async (pageToken) => {
    const page = await schedules.listSchedules({ pageSize: 1000, pageToken });
    return { names: page.schedules.map((s) => s.name), nextPageToken: page.nextPageToken };
  });
  expect(byBytes).toEqual([[...sorted(names), "t-0", "t-1"], ["t-2", "t-3"], ["t-4"]]);

  const tight = await startTestBroker({ maxPageBytes: 1000 }, broker.databaseUrl);
  try {
    const client = createClient(ScheduleService, createGrpcTransport({ baseUrl: tight.baseUrl }));
    const page = await client.listSchedules({ pageToken: (await client.listSchedules({ pageSize: 7 })).nextPageToken });
    expect(page.schedules.map((s) => [s.name, s.payload.byteLength])).toEqual([["t-0", MiB]]);
    expect(page.nextPageToken).not.toBe("");
  } finally {
    await tight.stop();
  }
});

const token = (text: string) => Buffer.from(text).toString("base64url");

test.each([
  { name: "page_size -1", request: { pageSize: -1 }, message: "page_size must be between 1 and 1000 (0 means 100)" },
  { name: "page_size 1001", request: { pageSize: 1001 }, message: "page_size must be between 1 and 1000 (0 means 100)" },
  { name: "a page_token that is not base64 of a cursor", request: { pageToken: "nonsense" }, message: "page_token is not a token returned by $rpc" },
  { name: "a ListJobs token", request: { pageToken: token("id:5") }, message: "page_token is not a token returned by $rpc" },
  { name: "a cursor that is not a name", request: { pageToken: token("queue:-x") }, message: "page_token is not a token returned by $rpc" },
  { name: "a token too long to be one", request: { pageToken: token(`queue:${"a".repeat(200)}`) }, message: "page_token is not a token returned by $rpc" },
])("ListQueues and ListSchedules refuse $name with INVALID_ARGUMENT", async ({ request, message }) => {
  for (const [rpc, call] of [
    ["ListQueues", () => queues.listQueues(request)],
    ["ListSchedules", () => schedules.listSchedules(request)],
  ] as const) {
    const error = await call().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code, rpc).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toBe(message.replace("$rpc", rpc));
  }
});

test("a token of one list is refused by the other", async () => {
  const { nextPageToken } = await queues.listQueues({ pageSize: 1 });
  expect(nextPageToken).not.toBe("");
  await expect(schedules.listSchedules({ pageToken: nextPageToken })).rejects.toThrow(/page_token is not a token returned by ListSchedules/);
});
