import { afterAll, beforeAll, expect, test } from "vitest";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";

/**
 * ListJobs pages are bounded by bytes as well as by page_size: a page of 1 MiB payloads must
 * not become a response of page_size MiB (nor load that much from PostgreSQL).
 */
const MiB = 1024 * 1024;
let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({ maxPageBytes: 2.5 * MiB });
});

afterAll(async () => {
  await broker.stop();
});

test("a page ends at the byte budget, with a token that continues it, and every job comes exactly once", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const { job } = await broker.jobs.enqueueJob({ queue: "big", payload: new Uint8Array(MiB).fill(i) });
    ids.push(job!.id);
  }
  const small = await broker.jobs.enqueueJob({ queue: "big", payload: new Uint8Array(10) });

  const pages: string[][] = [];
  let pageToken = "";
  do {
    const page = await broker.jobs.listJobs({ queue: "big", pageSize: 1000, pageToken });
    pages.push(page.jobs.map((job) => job.id));
    pageToken = page.nextPageToken;
  } while (pageToken !== "" && pages.length < 10);

  // Newest first: the small job and two 1 MiB jobs fit in 2.5 MiB, then two, then the last alone.
  expect(pages).toEqual([[small.job!.id, ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]);
});

test("a job larger than the budget still comes, alone on its page", async () => {
  const tight = await startTestBroker({ maxPageBytes: 1000 });
  try {
    const first = await tight.jobs.enqueueJob({ queue: "q", payload: new Uint8Array(5000) });
    const second = await tight.jobs.enqueueJob({ queue: "q", payload: new Uint8Array(5000) });
    const page = await tight.jobs.listJobs({ queue: "q" });
    expect(page.jobs.map((job) => job.id)).toEqual([second.job!.id]);
    const next = await tight.jobs.listJobs({ queue: "q", pageToken: page.nextPageToken });
    expect(next.jobs.map((job) => job.id)).toEqual([first.job!.id]);
    expect(next.nextPageToken).toBe("");
  } finally {
    await tight.stop();
  }
});
