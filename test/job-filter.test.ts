/**
 * JobFilter over gRPC: what each field matches in ListJobs, keyset pages that stay stable
 * while jobs are added, RetryJobs and DeleteJob(s) by filter, and a clear INVALID_ARGUMENT
 * for every malformed field.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { type JobFilterSchema, JobState } from "../clients/ts/src/gen/baton/v1/job_pb.js";
import { MAX_FILTER_IDS } from "../src/api/job-filter.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { sql } from "./helpers/database.js";
import { openStream } from "./helpers/stream.js";
import { refusal } from "./helpers/errors.js";

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker();
});

afterAll(() => broker?.stop());

type Filter = MessageInitShape<typeof JobFilterSchema>;

const listed = async (filter: Filter) => (await broker.jobs.listJobs({ filter, pageSize: 1000 })).jobs.map((job) => job.id);

async function expectInvalid(call: Promise<unknown>, message: RegExp) {
  const error = await refusal(call);
  expect(error.code).toBe(Code.InvalidArgument);
  expect(error.rawMessage).toMatch(message);
}

describe("ListJobs by filter", () => {
  test("each field narrows the list, and the fields together match all of them", async () => {
    const { jobs } = await broker.jobs.enqueueJobs({
      jobs: [
        { queue: "f-list", headers: { tenant: "a", kind: "x" } },
        { queue: "f-list", headers: { tenant: "a", kind: "y" } },
        { queue: "f-list", headers: { tenant: "b" } },
        { queue: "f-list-other", headers: { tenant: "a", kind: "x" } },
      ],
    });
    const [ax, ay, b, otherAx] = jobs.map((job) => job.id) as [string, string, string, string];
    expect(await listed({ headers: { tenant: "a" } })).toEqual([otherAx, ay, ax]);
    expect(await listed({ headers: { tenant: "a", kind: "x" } })).toEqual([otherAx, ax]);
    expect(await listed({ queue: "f-list", headers: { tenant: "a", kind: "x" } })).toEqual([ax]);
    expect(await listed({ headers: { tenant: "" } })).toEqual([]);
    expect(await listed({ ids: [ax, b, "999999999"] })).toEqual([b, ax]);
    expect(await listed({ queue: "f-list", ids: [ax, otherAx] })).toEqual([ax]);
    await broker.jobs.cancelJob({ id: b });
    expect(await listed({ queue: "f-list", states: [JobState.CANCELLED, JobState.DEAD] })).toEqual([b]);
    expect(await listed({ queue: "f-list", states: [JobState.AVAILABLE] })).toEqual([ay, ax]);
    expect(await listed({ chainId: ax })).toEqual([ax]);

    // Created before, at or after a time the database gave the jobs.
    const [{ t }] = (await sql<{ t: Date }>(broker.databaseUrl, "select create_time as t from baton.jobs where id = $1", [ay])) as [{ t: Date }];
    const at = timestampFromDate(t);
    const justAfter = timestampFromDate(new Date(t.getTime() + 1));
    expect(await listed({ queue: "f-list", createTimeAfter: at })).toEqual([b, ay, ax]);
    expect(await listed({ queue: "f-list", createTimeBefore: at })).toEqual([]);
    expect(await listed({ queue: "f-list", createTimeAfter: at, createTimeBefore: justAfter })).toEqual([b, ay, ax]);
  });

  test("the older fields still work, alone or beside filter fields they do not repeat", async () => {
    const { job } = await broker.jobs.enqueueJob({ queue: "f-legacy", headers: { k: "v" } });
    expect((await broker.jobs.listJobs({ queue: "f-legacy", state: JobState.AVAILABLE })).jobs.map((j) => j.id)).toEqual([job!.id]);
    expect((await broker.jobs.listJobs({ queue: "f-legacy", filter: { headers: { k: "v" } } })).jobs.map((j) => j.id)).toEqual([job!.id]);
    expect((await broker.jobs.listJobs({ queue: "f-legacy", filter: { headers: { k: "w" } } })).jobs).toEqual([]);
  });

  test("keyset pages by filter stay stable while jobs are added: each job once, newest first", async () => {
    const first = (await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 7 }, () => ({ queue: "f-pages", headers: { page: "p" } })) })).jobs;
    const seen: string[] = [];
    let pageToken = "";
    do {
      const page = await broker.jobs.listJobs({ filter: { headers: { page: "p" } }, pageSize: 3, pageToken });
      seen.push(...page.jobs.map((job) => job.id));
      // Jobs added meanwhile are newer than the cursor: they do not shift the pages still to come.
      await broker.jobs.enqueueJob({ queue: "f-pages", headers: { page: "p" } });
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    expect(seen).toEqual(first.map((job) => job.id).reverse());
  });
});

describe("bulk operations by filter", () => {
  test("RetryJobs by filter revives the dead and cancelled jobs it matches, and again changes nothing", async () => {
    const { jobs } = await broker.jobs.enqueueJobs({
      jobs: [
        { queue: "f-retry", headers: { run: "1" } },
        { queue: "f-retry", headers: { run: "1" } },
        { queue: "f-retry", headers: { run: "2" } },
      ],
    });
    expect(await broker.jobs.cancelJobs({ filter: { queue: "f-retry" } })).toMatchObject({ cancelled: 3n, cancelRequested: 0n });
    expect((await broker.jobs.retryJobs({ filter: { headers: { run: "1" } } })).count).toBe(2n);
    expect(await listed({ queue: "f-retry", states: [JobState.AVAILABLE] })).toEqual([jobs[1]!.id, jobs[0]!.id]);
    expect((await broker.jobs.retryJobs({ filter: { headers: { run: "1" } } })).count).toBe(0n);
  });

  test("DeleteJob deletes a waiting or finished job, refuses a leased one, and answers NOT_FOUND once it is gone", async () => {
    const { job: waiting } = await broker.jobs.enqueueJob({ queue: "f-delete-one" });
    const { job: running } = await broker.jobs.enqueueJob({ queue: "f-delete-running" });
    const worker = openStream(broker.workers, { case: "hello", value: { workerId: "f-holder", queues: ["f-delete-running"], maxInFlight: 1 } });
    try {
      expect((await worker.next("job")).job!.id).toBe(running!.id);
      await broker.jobs.deleteJob({ id: waiting!.id });
      expect((await refusal(broker.jobs.getJob({ id: waiting!.id }))).code).toBe(Code.NotFound);
      expect((await refusal(broker.jobs.deleteJob({ id: waiting!.id }))).code).toBe(Code.NotFound);
      const leased = await refusal(broker.jobs.deleteJob({ id: running!.id }));
      expect(leased.code).toBe(Code.FailedPrecondition);
      expect(leased.rawMessage).toMatch(`job ${running!.id} is leased: a running job is never deleted; cancel it first`);
      expect(await broker.jobs.deleteJobs({ filter: { ids: [running!.id] } })).toMatchObject({ count: 0n });
      expect((await broker.jobs.getJob({ id: running!.id })).job!.state).toBe(JobState.LEASED);
    } finally {
      worker.close();
    }
  });

  test("DeleteJobs by state and time deletes only what matches, and again deletes nothing", async () => {
    const { jobs } = await broker.jobs.enqueueJobs({ jobs: [{ queue: "f-delete" }, { queue: "f-delete" }] });
    await broker.jobs.cancelJob({ id: jobs[0]!.id });
    expect(await broker.jobs.deleteJobs({ filter: { queue: "f-delete", states: [JobState.CANCELLED] } })).toMatchObject({ count: 1n });
    expect(await listed({ queue: "f-delete" })).toEqual([jobs[1]!.id]);
    expect(await broker.jobs.deleteJobs({ filter: { queue: "f-delete", states: [JobState.CANCELLED] } })).toMatchObject({ count: 0n });
    expect(await broker.jobs.deleteJobs({ filter: { queue: "f-delete", createTimeBefore: timestampFromDate(new Date(0)) } })).toMatchObject({ count: 0n });
  });
});

describe("bad input", () => {
  const filterCalls = (filter: Filter | undefined) => [
    broker.jobs.listJobs({ filter }),
    broker.jobs.cancelJobs({ filter }),
    broker.jobs.retryJobs({ filter: filter ?? {} }),
    broker.jobs.deleteJobs({ filter }),
  ];

  test("an empty filter is refused by every bulk operation: naming the states is how to mean every job", async () => {
    for (const call of [broker.jobs.cancelJobs({}), broker.jobs.cancelJobs({ filter: {} }), broker.jobs.deleteJobs({}), broker.jobs.retryJobs({ filter: {} })]) {
      await expectInvalid(call, /^filter must set at least one field; to mean every job, name the states in filter.states$/);
    }
  });

  test("every malformed field is named", async () => {
    const cases: [Filter, RegExp][] = [
      [{ queue: "no spaces!" }, /filter\.queue "no spaces!" is invalid/],
      [{ states: [JobState.UNSPECIFIED] }, /filter\.states\[0\] JOB_STATE_UNSPECIFIED is not a job state/],
      [{ states: [JobState.AVAILABLE, 99 as JobState] }, /filter\.states\[1\] 99 is not a job state/],
      [{ chainId: "abc" }, /filter\.chain_id "abc" is not a job id/],
      [{ ids: ["1", "x"] }, /filter\.ids\[1\] "x" is not a job id/],
      [{ ids: Array.from({ length: MAX_FILTER_IDS + 1 }, (_, i) => String(i + 1)) }, /filter\.ids has 1001 entries; the limit is 1000/],
      [{ headers: { "": "v" } }, /filter\.headers has an empty name/],
      [{ headers: { k: "a\u0000b" } }, /filter\.headers\["k"\]/],
      [{ createTimeAfter: { seconds: 0n, nanos: -1 } }, /filter\.create_time_after is not a valid Timestamp/],
      [{ createTimeBefore: { seconds: 999_999_999_999n, nanos: 0 } }, /filter\.create_time_before is 999999999999s since the epoch/],
      [
        { createTimeAfter: timestampFromDate(new Date(2000)), createTimeBefore: timestampFromDate(new Date(1000)) },
        /filter\.create_time_after \(1970-01-01T00:00:02\.000Z\) must be before filter\.create_time_before \(1970-01-01T00:00:01\.000Z\)/,
      ],
    ];
    for (const [filter, message] of cases) {
      for (const call of filterCalls(filter)) await expectInvalid(call, message);
    }
  });

  test("each bulk operation refuses states it never changes", async () => {
    await expectInvalid(broker.jobs.cancelJobs({ filter: { states: [JobState.SUCCEEDED] } }), /filter\.states\[0\] is JOB_STATE_SUCCEEDED: a finished job cannot be cancelled/);
    await expectInvalid(broker.jobs.retryJobs({ filter: { states: [JobState.AVAILABLE] } }), /filter\.states\[0\] is JOB_STATE_AVAILABLE: only dead or cancelled jobs can be retried/);
    await expectInvalid(
      broker.jobs.deleteJobs({ filter: { states: [JobState.DEAD, JobState.LEASED] } }),
      /filter\.states\[1\] is JOB_STATE_LEASED: a leased job is running and is never deleted; cancel it first/,
    );
  });

  test("a field set both in ListJobs' older spelling and in its filter is refused, as is RetryJobs' queue beside a filter", async () => {
    await expectInvalid(broker.jobs.listJobs({ queue: "a", filter: { queue: "a" } }), /^queue and filter\.queue are both set; set one of them$/);
    await expectInvalid(broker.jobs.listJobs({ state: JobState.DEAD, filter: { states: [JobState.DEAD] } }), /^state and filter\.states are both set/);
    await expectInvalid(broker.jobs.listJobs({ chainId: "1", filter: { chainId: "1" } }), /^chain_id and filter\.chain_id are both set/);
    await expectInvalid(broker.jobs.retryJobs({ queue: "a", filter: { queue: "a" } }), /^filter is set with queue or state/);
  });

  test("DeleteJob takes a job id", async () => {
    await expectInvalid(broker.jobs.deleteJob({ id: "abc" }), /"abc" is not a job id/);
    await expectInvalid(broker.jobs.deleteJob({ id: "" }), /id/);
  });
});
