/**
 * One worker stream cannot hurt the others: every string it sends that reaches the database is
 * validated, a bad settlement is refused alone, lease renewal never depends on another write,
 * and what one stream may ask for is bounded.
 */
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadConfig } from "../src/config.js";
import { type TestBroker, startTestBroker } from "./helpers/broker.js";
import { createTestDatabase, sql } from "./helpers/database.js";
import { type TestStream, openStream } from "./helpers/stream.js";
import { eventually } from "./helpers/wait.js";
import { rawSubscribe } from "./faults/raw-stream.js";

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker({
    maxInFlight: 50,
    stream: { ...loadConfig({}).stream, maxQueues: 3, maxContinuations: 2, maxErrorBytes: 64, maxProgressBytes: 32, maxBufferedBytes: 1024 * 1024 },
    broker: { leaseSeconds: 1.5 },
  });
});

afterAll(async () => {
  await broker?.stop();
});

async function expectStreamError(stream: TestStream, code: Code, message: RegExp): Promise<void> {
  const error = await stream.ended;
  expect(error).toBeInstanceOf(ConnectError);
  expect((error as ConnectError).code).toBe(code);
  expect((error as ConnectError).rawMessage).toMatch(message);
}

/** A stream on `queue` that has received `count` jobs. */
async function holding(queue: string, count: number) {
  const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: [queue], maxInFlight: count } });
  await stream.next("welcome");
  await broker.jobs.enqueueJobs({ jobs: Array.from({ length: count }, () => ({ queue })) });
  const deliveries = [];
  for (let i = 0; i < count; i++) deliveries.push(await stream.next("job"));
  return { stream, deliveries };
}

async function jobRow(id: string) {
  const [row] = await sql<{ state: string; last_error: string; progress_message: string }>(
    broker.databaseUrl,
    "select state::text, last_error, progress_message from baton.jobs where id = $1",
    [id],
  );
  return row!;
}

/**
 * Runs `check` while the database refuses every update of a job row where `condition` holds
 * (SQLSTATE 22023): a value that passes validation, standing in for any value only the
 * database knows it cannot store.
 */
async function refusingUpdatesWhere(condition: string, check: () => Promise<void>): Promise<void> {
  await sql(
    broker.databaseUrl,
    `create or replace function baton.test_refuse() returns trigger language plpgsql as $$
     begin if ${condition} then raise exception 'refused' using errcode = '22023'; end if; return new; end $$`,
  );
  await sql(broker.databaseUrl, "create trigger test_refuse before update on baton.jobs for each row execute function baton.test_refuse()");
  try {
    await check();
  } finally {
    await sql(broker.databaseUrl, "drop trigger test_refuse on baton.jobs");
  }
}

describe("hello", () => {
  // A lone surrogate cannot arrive here: the binary protobuf of a stream is UTF-8 already.
  test("a worker_id with a NUL byte or over 256 bytes is INVALID_ARGUMENT", async () => {
    for (const [workerId, message] of [
      ["evil\0worker", /^hello\.worker_id contains a NUL byte$/],
      ["é".repeat(129), /^hello\.worker_id is 258 bytes \(UTF-8\); the limit is 256$/],
    ] as const) {
      const stream = openStream(broker.workers, { case: "hello", value: { workerId, queues: ["h"], maxInFlight: 1 } });
      await expectStreamError(stream, Code.InvalidArgument, message);
    }
  });

  test("more queues than BATON_MAX_QUEUES_PER_STREAM is INVALID_ARGUMENT", async () => {
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["q1", "q2", "q3", "q4"], maxInFlight: 1 } });
    await expectStreamError(stream, Code.InvalidArgument, /^hello\.queues names 4 queues; the limit is 3 \(BATON_MAX_QUEUES_PER_STREAM\)$/);
    const ok = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["q1", "q2", "q3"], maxInFlight: 1 } });
    await ok.next("welcome");
    ok.close();
    expect(await ok.ended).toBeUndefined();
  });


  test("more resume entries than any stream can hold (2 x BATON_MAX_IN_FLIGHT) is INVALID_ARGUMENT", async () => {
    const resume = Array.from({ length: 101 }, (_, i) => ({ jobId: String(i + 1), leaseToken: "00000000-0000-4000-8000-000000000000" }));
    const stream = openStream(broker.workers, { case: "hello", value: { workerId: "w", queues: ["h"], maxInFlight: 1, resume } });
    await expectStreamError(stream, Code.InvalidArgument, /^hello\.resume names 101 leases; no stream can hold more than 100$/);
  });
});

describe("lease renewal", () => {
  test("goes on while the worker registry write fails", async () => {
    const { stream, deliveries } = await holding("renew-registry", 1);
    const id = deliveries[0]!.job!.id;
    // The registry refuses every write from now on, as it did for a worker id with a NUL byte.
    await sql(
      broker.databaseUrl,
      `create function baton.test_refuse_registry() returns trigger language plpgsql as $$
       begin raise exception 'registry refused' using errcode = '22021'; end $$`,
    );
    await sql(broker.databaseUrl, "create trigger refuse before insert or update on baton.workers for each row execute function baton.test_refuse_registry()");
    try {
      const [{ expires }] = (await sql<{ expires: Date }>(broker.databaseUrl, "select lease_expire_time as expires from baton.jobs where id = $1", [id])) as [
        { expires: Date },
      ];
      // Renewed twice past the lease that was current once the registry broke.
      await eventually(
        async () => {
          const [row] = await sql<{ ahead: boolean }>(
            broker.databaseUrl,
            "select lease_expire_time > $2::timestamptz + interval '1.5 seconds' as ahead from baton.jobs where id = $1",
            [id, expires],
          );
          return row!.ahead;
        },
        { timeoutMs: 10_000, what: "the lease to be renewed while the registry write fails" },
      );
      stream.send({ case: "ack", value: { jobId: id, leaseToken: deliveries[0]!.leaseToken } });
      expect(await stream.next("settled")).toMatchObject({ jobId: id, ok: true });
    } finally {
      await sql(broker.databaseUrl, "drop trigger refuse on baton.workers");
      stream.close();
    }
  });
});

describe("nack", () => {
  test("a NUL byte in the error is refused alone; the honest nack written with it is settled", async () => {
    const { stream, deliveries } = await holding("nack-nul", 2);
    const [bad, honest] = deliveries as [(typeof deliveries)[0], (typeof deliveries)[0]];
    // Sent in one write, so that both land in one settle batch.
    stream.send({ case: "nack", value: { jobId: bad.job!.id, leaseToken: bad.leaseToken, error: "boom\0" } });
    stream.send({ case: "nack", value: { jobId: honest.job!.id, leaseToken: honest.leaseToken, error: "honest", deadLetter: true } });
    const answers = [await stream.next("settled"), await stream.next("settled")];
    expect(answers).toContainEqual(expect.objectContaining({ jobId: bad.job!.id, ok: false, error: "nack.error contains a NUL byte" }));
    expect(answers).toContainEqual(expect.objectContaining({ jobId: honest.job!.id, ok: true }));
    expect(await jobRow(honest.job!.id)).toMatchObject({ state: "dead", last_error: "honest" });
    // The refused one's attempt failed with the reason, and it waits out its backoff.
    expect(await jobRow(bad.job!.id)).toMatchObject({ state: "available", last_error: "settlement refused: nack.error contains a NUL byte" });
    stream.close();
  });

  test("a retry_delay of 2^62 s or below zero is refused alone; the nack written with it is settled", async () => {
    const { stream, deliveries } = await holding("nack-delay", 3);
    const [huge, negative, honest] = deliveries as [(typeof deliveries)[0], (typeof deliveries)[0], (typeof deliveries)[0]];
    stream.send({ case: "nack", value: { jobId: huge.job!.id, leaseToken: huge.leaseToken, retryDelay: { seconds: 2n ** 62n } } });
    stream.send({ case: "nack", value: { jobId: negative.job!.id, leaseToken: negative.leaseToken, retryDelay: durationFromMs(-1000) } });
    stream.send({ case: "nack", value: { jobId: honest.job!.id, leaseToken: honest.leaseToken, retryDelay: durationFromMs(60_000) } });
    const answers = [await stream.next("settled"), await stream.next("settled"), await stream.next("settled")];
    const refusal = "nack.retry_delay must be between 0 and 31536000 seconds (365 days)";
    expect(answers).toContainEqual(expect.objectContaining({ jobId: huge.job!.id, ok: false, error: refusal }));
    expect(answers).toContainEqual(expect.objectContaining({ jobId: negative.job!.id, ok: false, error: refusal }));
    expect(answers).toContainEqual(expect.objectContaining({ jobId: honest.job!.id, ok: true }));
    expect((await jobRow(honest.job!.id)).state).toBe("available");
    stream.close();
  });

  test("an error over BATON_MAX_ERROR_BYTES is kept cut to the limit, at a character boundary", async () => {
    const { stream, deliveries } = await holding("nack-long", 1);
    const [d] = deliveries;
    // 63 bytes of "x", then "é" (2 bytes) would split at byte 64: the cut drops it whole.
    stream.send({ case: "nack", value: { jobId: d!.job!.id, leaseToken: d!.leaseToken, error: "x".repeat(63) + "é tail" } });
    expect(await stream.next("settled")).toMatchObject({ ok: true });
    expect((await jobRow(d!.job!.id)).last_error).toBe("x".repeat(63));
    stream.close();
  });

  test("a batch the database refuses is written member by member: only the bad nack is refused", async () => {
    const { stream, deliveries } = await holding("nack-isolate", 3);
    await refusingUpdatesWhere("new.last_error = 'refuse me'", async () => {
      deliveries.forEach((d, i) =>
        stream.send({ case: "nack", value: { jobId: d.job!.id, leaseToken: d.leaseToken, error: i === 1 ? "refuse me" : `honest ${i}` } }),
      );
      const answers = await Promise.all(deliveries.map(() => stream.next("settled")));
      const byJob = new Map(answers.map((a) => [a.jobId, a]));
      expect(byJob.get(deliveries[0]!.job!.id)).toMatchObject({ ok: true });
      expect(byJob.get(deliveries[1]!.job!.id)).toMatchObject({ ok: false, error: "refused by the database (SQLSTATE 22023)" });
      expect(byJob.get(deliveries[2]!.job!.id)).toMatchObject({ ok: true });
      expect((await jobRow(deliveries[2]!.job!.id)).last_error).toBe("honest 2");
    });
    stream.close();
  });
});

describe("ack batches", () => {
  test("a batch the database refuses is written member by member: only the bad ack is refused", async () => {
    const { stream, deliveries } = await holding("ack-isolate", 3);
    await refusingUpdatesWhere("new.result = convert_to('refuse me', 'UTF8')", async () => {
      deliveries.forEach((d, i) =>
        stream.send({ case: "ack", value: { jobId: d.job!.id, leaseToken: d.leaseToken, result: new TextEncoder().encode(i === 0 ? "refuse me" : "fine") } }),
      );
      const answers = await Promise.all(deliveries.map(() => stream.next("settled")));
      const byJob = new Map(answers.map((a) => [a.jobId, a]));
      expect(byJob.get(deliveries[0]!.job!.id)).toMatchObject({ ok: false, error: "refused by the database (SQLSTATE 22023)" });
      expect(byJob.get(deliveries[1]!.job!.id)).toMatchObject({ ok: true });
      expect(byJob.get(deliveries[2]!.job!.id)).toMatchObject({ ok: true });
      expect((await jobRow(deliveries[1]!.job!.id)).state).toBe("succeeded");
    });
    stream.close();
  });
});

describe("progress", () => {
  test("a message with a NUL byte is refused and one over BATON_MAX_PROGRESS_BYTES is cut; the job keeps its lease", async () => {
    const { stream, deliveries } = await holding("progress-bad", 1);
    const [d] = deliveries;
    const lease = { jobId: d!.job!.id, leaseToken: d!.leaseToken };
    stream.send({ case: "progress", value: { ...lease, percent: 10, message: "half\0way" } });
    expect(await stream.next("settled")).toMatchObject({ ok: false, error: "progress.message contains a NUL byte" });
    stream.send({ case: "progress", value: { ...lease, percent: 20, message: "y".repeat(33) } });
    await eventually(async () => (await jobRow(lease.jobId)).progress_message === "y".repeat(32), { what: "the long progress to be written, cut" });
    stream.send({ case: "progress", value: { ...lease, percent: 30, message: "fine" } });
    await eventually(async () => (await jobRow(lease.jobId)).progress_message === "fine", { what: "the valid progress to be written" });
    stream.send({ case: "ack", value: lease });
    expect(await stream.next("settled")).toMatchObject({ ok: true });
    stream.close();
  });
});

describe("ack", () => {
  test("more continue_with entries than BATON_MAX_CONTINUATIONS are refused before anything is written", async () => {
    const { stream, deliveries } = await holding("cont-many", 1);
    const [d] = deliveries;
    stream.send({ case: "ack", value: { jobId: d!.job!.id, leaseToken: d!.leaseToken, continueWith: [{ queue: "n" }, { queue: "n" }, { queue: "n" }] } });
    expect(await stream.next("settled")).toMatchObject({
      ok: false,
      error: "ack.continue_with has 3 entries; the limit is 2 (BATON_MAX_CONTINUATIONS)",
    });
    expect(await jobRow(d!.job!.id)).toMatchObject({
      state: "available",
      last_error: "settlement refused: ack.continue_with has 3 entries; the limit is 2 (BATON_MAX_CONTINUATIONS)",
    });
    expect(await sql(broker.databaseUrl, "select 1 from baton.jobs where queue = 'n'")).toHaveLength(0);
    stream.close();
  });

  test("a continuation the database refuses is answered with its reason, not 'could not be written'", async () => {
    const { stream, deliveries } = await holding("cont-blocker", 1);
    const [d] = deliveries;
    stream.send({
      case: "ack",
      value: { jobId: d!.job!.id, leaseToken: d!.leaseToken, continueWith: [{ queue: "n", dependsOn: ["999999999"] }] },
    });
    expect(await stream.next("settled")).toMatchObject({
      ok: false,
      error: "ack.continue_with: depends_on names job 999999999, which does not exist",
    });
    expect((await jobRow(d!.job!.id)).last_error).toBe("settlement refused: ack.continue_with: depends_on names job 999999999, which does not exist");
    stream.close();
  });

  test("a continuation with a NUL byte in a header is refused with its field", async () => {
    const { stream, deliveries } = await holding("cont-nul", 1);
    const [d] = deliveries;
    stream.send({ case: "ack", value: { jobId: d!.job!.id, leaseToken: d!.leaseToken, continueWith: [{ queue: "n", headers: { k: "v\0" } }] } });
    const settled = await stream.next("settled");
    expect(settled.ok).toBe(false);
    expect(settled.error).toMatch(/^ack\.continue_with/);
    stream.close();
  });
});

describe("a stream that stops reading", () => {
  test("gets deliveries only while less than BATON_MAX_STREAM_BUFFER_BYTES of them wait unread, whatever its max_in_flight", async () => {
    const queue = "unread";
    const count = (state: string) =>
      sql<{ n: number }>(broker.databaseUrl, "select count(*)::int as n from baton.jobs where queue = $1 and state = $2::baton.job_state", [queue, state]).then(
        ([row]) => row!.n,
      );
    const deaf = rawSubscribe(broker.baseUrl);
    try {
      deaf.send({ case: "hello", value: { workerId: "deaf", queues: [queue], maxInFlight: 50 } });
      await eventually(async () => (await broker.workers.listWorkers({ queue })).workers.length === 1, { what: "the deaf stream to be open" });
      const payload = new Uint8Array(256 * 1024);
      for (let i = 0; i < 5; i++) await broker.jobs.enqueueJobs({ jobs: Array.from({ length: 8 }, () => ({ queue, payload })) });
      await eventually(async () => (await count("leased")) > 0, { what: "deliveries to the deaf stream" });
      // A reading worker takes every job the deaf stream does not hold.
      const reader = openStream(broker.workers, { case: "hello", value: { workerId: "reader", queues: [queue], maxInFlight: 4 } });
      void (async () => {
        for (;;) {
          const delivery = await reader.next("job").catch(() => undefined);
          if (!delivery) return;
          reader.send({ case: "ack", value: { jobId: delivery.job!.id, leaseToken: delivery.leaseToken } });
          reader.send({ case: "credit", value: { n: 1 } });
        }
      })();
      await eventually(async () => (await count("available")) === 0 && (await count("succeeded")) + (await count("leased")) === 40, {
        what: "every job to be run or held by the deaf stream",
      });
      const held = await count("leased");
      // 1 MiB of 256 KiB deliveries waits unread, plus what HTTP/2 took before flow control stopped it.
      expect(held).toBeLessThanOrEqual(7);
      reader.close();
      await reader.ended;
      // Once it reads, it gets its jobs, and deliveries resume.
      deaf.read();
      await deaf.until((r) => r.message.case === "job", held);
      await broker.jobs.enqueueJob({ queue });
      await deaf.until((r) => r.message.case === "job", held + 1);
    } finally {
      deaf.close();
    }
  });
});

test("welcome.lease_duration is the shortest lease_duration of the subscribed queues", async () => {
  const databaseUrl = await createTestDatabase();
  await sql(databaseUrl, "insert into baton.queues (name, lease_duration) values ('short', interval '4 seconds'), ('long', interval '90 seconds')");
  const other = await startTestBroker({ broker: { leaseSeconds: 30 } }, databaseUrl);
  try {
    const welcome = async (queues: string[]) => {
      const stream = openStream(other.workers, { case: "hello", value: { workerId: "w", queues, maxInFlight: 1 } });
      const { leaseDuration } = await stream.next("welcome");
      stream.close();
      return Number(leaseDuration!.seconds);
    };
    expect(await welcome(["long", "short"])).toBe(4);
    expect(await welcome(["long"])).toBe(90);
    // A queue that sets none has the broker's default.
    expect(await welcome(["long", "plain"])).toBe(30);
  } finally {
    await other.stop();
  }
});
