import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { Job, JobResult } from "./gen/baton/v1/job_pb.js";
import { type LeaseRef, type SubscribeRequest, SubscribeRequestSchema } from "./gen/baton/v1/worker_service_pb.js";
import { BatchCollector, type BatchContext, type BatchHandler, type BatchOptions, validateBatchOptions } from "./batch.js";
import { type JobSpec, toRequest } from "./client.js";
import type { JobContext, JobHandler } from "./handler.js";
import { DeadLetterError, RetryAfterError, errorMessage } from "./errors.js";
import { type Delivery, type RawSubscribeResponse, decodeJobBatch, subscribeRawJobs } from "./job-batch.js";
import { Outgoing } from "./outgoing.js";
import { type Payload, encodePayload } from "./payload.js";
import { type ConnectionOptions, resolveTransport } from "./transport.js";

export interface WorkerOptions extends ConnectionOptions {
  /** Queues to take jobs from, over one stream; served by priority across them. */
  queues: string[];
  /**
   * This worker's labels ({ gpu: "a100" }): it takes the jobs whose workerLabels it has every
   * one of, besides the jobs without workerLabels. Default: none.
   */
  labels?: Record<string, string>;
  /** Runs each job; see JobHandler. Give either `handler` or `batch`. */
  handler?: JobHandler;
  /** Runs jobs of one queue several at a time instead; see BatchHandler. */
  batch?: BatchOptions;
  /** Jobs run at once; also the stream's max_in_flight. Default 10. */
  concurrency?: number;
  /** Name shown to operators. Default: "<hostname>-<pid>". */
  workerId?: string;
  /** Called with errors the worker survives (a dropped stream, a refused ack). */
  onError?: (error: unknown) => void;
  /** First reconnect delay after the stream drops, in milliseconds; it doubles per failure. Default 100. */
  minBackoffMs?: number;
  /** Longest reconnect delay, in milliseconds. Default 5000. */
  maxBackoffMs?: number;
  /**
   * How long the broker keeps this worker's leases when its stream breaks, so that the worker
   * can reconnect and resume its running jobs instead of having them run again elsewhere; also
   * how long the jobs of a crashed worker wait before another worker gets them. The broker caps
   * it. Default 0: leases are released at once (a reconnect may still resume those the broker
   * has not released yet).
   */
  resumeGraceMs?: number;
  /**
   * Exit once the queues are drained: `done` resolves when nothing is running and no job has
   * been delivered for `burstIdleMs` although the worker had free credit. Jobs that become due
   * later (delayed jobs, retries waiting out their backoff) are left for the next run.
   */
  burst?: boolean;
  /** How long an idle burst worker waits for a delivery. Default 1000 ms. */
  burstIdleMs?: number;
  /**
   * After stop(), how long running handlers may take; then their signals abort ("shutdown
   * timeout") and the stream closes, leaving their jobs to the broker. Default 30000 ms.
   */
  shutdownTimeoutMs?: number;
}

export interface Worker {
  /**
   * Graceful stop: take no new jobs, let running handlers finish and their outcomes be
   * committed, then close the stream.
   */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped (after stop(), or when a burst worker is done). */
  readonly done: Promise<void>;
}

type OutgoingMessage = MessageInitShape<typeof SubscribeRequestSchema>["message"];
type Outcome = Extract<OutgoingMessage, { case: "ack" | "nack" }>;
type Report = Outcome | Extract<OutgoingMessage, { case: "progress" }>;
type Settle = {
  acks: Extract<OutgoingMessage, { case: "ack" }>["value"][];
  nacks: Extract<OutgoingMessage, { case: "nack" }>["value"][];
  progress: Extract<OutgoingMessage, { case: "progress" }>["value"][];
};
type Nack = Extract<OutgoingMessage, { case: "nack" }>["value"];

/** A job the worker holds a lease on: running, or finished and awaiting `settled`. */
interface Held {
  leaseToken: string;
  abort: LazyAbort;
  /** The ack or nack, kept until settled so it can be sent again after a resume. */
  outcome?: Outcome;
}

/** A delivered job on its way through a handler; it is settled once, by ack or fail. */
interface Run {
  job: Job;
  context: JobContext;
  /** Answers false when the job was settled already. */
  ack(result: Payload): boolean;
  fail(error: unknown): boolean;
}

/**
 * Runs `handler` for every job of `queues`, over one Subscribe stream that reconnects with
 * backoff when it drops. The broker renews leases while the stream lives, so handlers never
 * heartbeat. When the stream drops, running handlers go on while the worker reconnects and asks
 * to resume their leases; the broker's welcome says which it kept (with fresh tokens), and the
 * handlers of the others are aborted with "lease lost".
 */
export function runWorker(options: WorkerOptions): Worker {
  const transport = resolveTransport(options);
  const concurrency = options.concurrency ?? 10;
  if ((options.handler === undefined) === (options.batch === undefined)) throw new TypeError("runWorker needs exactly one of handler and batch");
  const batchOptions = options.batch && validateBatchOptions(options.batch, concurrency);
  const batches = batchOptions && new BatchCollector<Run>(batchOptions.maxJobs, batchOptions.maxWaitMs, (runs) => void runBatch(batchOptions.handler, runs));
  const workerId = options.workerId ?? `${process.env.HOSTNAME ?? "worker"}-${process.pid}`;
  const onError = options.onError ?? (() => {});
  const held = new Map<string, Held>();
  /** The welcomed stream's outbox; undefined while disconnected. */
  let current: Outbox | undefined;
  let closeStream: (() => void) | undefined;
  let stopping = false;
  let hardStopped = false;
  let lastActivity = Date.now();

  const runStream = async (): Promise<void> => {
    const outbox = new Outbox();
    closeStream = () => outbox.end();
    const resume = [...held].map(([jobId, entry]) => ({ jobId, leaseToken: entry.leaseToken }));
    const resumeGrace = options.resumeGraceMs ? durationFromMs(options.resumeGraceMs) : undefined;
    // The batched protocol: jobs arrive in batches, settlements leave in batches, and a settled
    // job returns its credit without a message of its own.
    outbox.send({
      case: "hello",
      value: {
        workerId,
        queues: options.queues,
        labels: options.labels ?? {},
        maxInFlight: concurrency,
        resume,
        resumeGrace,
        batch: true,
        creditOnSettle: true,
        leanJobs: true,
      },
    });
    try {
      for await (const response of subscribeRawJobs(transport, outbox)) handleResponse(response, outbox);
    } finally {
      outbox.end();
      if (current === outbox) current = undefined;
      closeStream = undefined;
    }
  };

  const handleResponse = (response: RawSubscribeResponse, outbox: Outbox) => {
    const message = response.message;
    switch (message.case) {
      case "welcome":
        welcome(outbox, message.value.resumed);
        return;
      case "job":
        deliver({ ...message.value, job: message.value.job! });
        return;
      case "jobs":
        for (const delivery of decodeJobBatch(message.value)) deliver(delivery);
        // With every slot taken, or the worker stopping, no further job can come to fill a
        // batch: run what is there.
        if (held.size >= concurrency || stopping) batches?.releaseAll();
        return;
      case "cancel":
        held.get(message.value.jobId)?.abort.abort(new Error("job cancelled"));
        return;
      case "leaseLost":
        loseLease(message.value.jobId);
        closeIfDone();
        return;
      case "settled":
        settled(message.value);
        closeIfDone();
        return;
      case "settledBatch":
        for (const jobId of message.value.committed) settled({ jobId, ok: true, error: "" });
        for (const refusal of message.value.refused) settled(refusal);
        closeIfDone();
        return;
      case "ping":
        outbox.send({ case: "pong", value: {} });
        return;
      default:
        return;
    }
  };

  const settled = ({ jobId, ok, error }: { jobId: string; ok: boolean; error: string }) => {
    if (!ok) onError(new Error(`job ${jobId} not settled: ${error}`));
    if (held.get(jobId)?.outcome) held.delete(jobId);
    lastActivity = Date.now();
  };

  /** Adopts a stream: resumed leases get their fresh tokens, the others are gone. */
  const welcome = (outbox: Outbox, resumed: LeaseRef[]) => {
    current = outbox;
    // A worker that reconnects only to settle what it holds takes nothing new.
    if (stopping) outbox.send({ case: "drain", value: {} });
    lastActivity = Date.now();
    const tokens = new Map(resumed.map((lease) => [lease.jobId, lease.leaseToken]));
    for (const [jobId, entry] of held) {
      const token = tokens.get(jobId);
      if (token === undefined) {
        loseLease(jobId);
        continue;
      }
      entry.leaseToken = token;
      if (entry.outcome) {
        entry.outcome.value.leaseToken = token;
        outbox.settle(entry.outcome);
      }
    }
    closeIfDone();
  };

  /** The job is no longer ours: its handler is aborted, and if it still waits for a batch, it leaves it. */
  const loseLease = (jobId: string) => {
    const entry = held.get(jobId);
    held.delete(jobId);
    batches?.remove(jobId);
    entry?.abort.abort(new Error("lease lost"));
  };

  const deliver = ({ job, leaseToken, dependsOnResults }: Delivery) => {
    const run = start(job, leaseToken, dependsOnResults);
    if (batches) batches.add(run);
    else void runJob(run);
  };

  /** Holds the job's lease and makes its context; the outcome is sent when the run settles. */
  const start = (job: Job, leaseToken: string, dependsOnResults: JobResult[]): Run => {
    const entry: Held = { leaseToken, abort: new LazyAbort() };
    held.set(job.id, entry);
    lastActivity = Date.now();
    const continuations: JobSpec[] = [];
    let finished = false;
    const finish = (outcome: Outcome): boolean => {
      if (finished) return false;
      finished = true;
      // A job whose lease was lost meanwhile is no longer ours to settle; a resume may have
      // replaced the token while the handler ran.
      if (held.get(job.id) === entry) {
        outcome.value.leaseToken = entry.leaseToken;
        entry.outcome = outcome;
        current?.settle(outcome);
      }
      return true;
    };
    const context: JobContext = {
      get signal() {
        return entry.abort.signal;
      },
      progress: (percent, text = "") => {
        if (held.get(job.id) === entry) {
          current?.settle({ case: "progress", value: { jobId: job.id, leaseToken: entry.leaseToken, percent: Math.round(percent), message: text } });
        }
      },
      // Named explicitly: the broker takes a continuation without chain_id as a new chain.
      continueWith: (...jobs) => continuations.push(...jobs.map((spec) => ({ chainId: job.chainId, ...spec }))),
      dependsOnResults,
    };
    return {
      job,
      context,
      ack: (result) =>
        finish({ case: "ack", value: { jobId: job.id, leaseToken: "", result: encodePayload(result), continueWith: continuations.map(toRequest) } }),
      fail: (error) => finish({ case: "nack", value: nackOf(job.id, error) }),
    };
  };

  const runJob = async (run: Run) => {
    try {
      run.ack(await options.handler!(run.job, run.context));
    } catch (error) {
      run.fail(error);
    }
  };

  const runBatch = async (handler: BatchHandler, runs: Run[]) => {
    const byId = new Map(runs.map((run) => [run.job.id, run]));
    const runOf = (job: Job) => {
      const run = byId.get(job.id);
      if (!run) throw new Error(`job ${job.id} is not in this batch`);
      return run;
    };
    const settledAlready = (job: Job) => new Error(`job ${job.id} is settled already`);
    const batch: BatchContext = {
      of: (job) => runOf(job).context,
      ack: (job, result) => {
        if (!runOf(job).ack(result)) throw settledAlready(job);
      },
      fail: (job, error) => {
        if (!runOf(job).fail(error)) throw settledAlready(job);
      },
    };
    try {
      await handler(
        runs.map((run) => run.job),
        batch,
      );
      for (const run of runs) run.ack(undefined);
    } catch (error) {
      for (const run of runs) run.fail(error);
    }
  };

  /** Once stopping and every held job is settled, end the stream: the worker is done. */
  const closeIfDone = () => {
    if (stopping && held.size === 0) closeStream?.();
  };

  const stopNow = () => {
    if (held.size === 0) return;
    hardStopped = true;
    for (const entry of held.values()) entry.abort.abort(new Error("shutdown timeout"));
    closeStream?.();
  };

  let shutdownTimer: NodeJS.Timeout | undefined;
  const beginStop = () => {
    if (stopping) return;
    stopping = true;
    current?.send({ case: "drain", value: {} });
    // No more deliveries will fill the waiting batches.
    batches?.releaseAll();
    shutdownTimer = setTimeout(stopNow, options.shutdownTimeoutMs ?? 30_000);
    closeIfDone();
  };

  const burstIdleMs = options.burstIdleMs ?? 1000;
  const drainWatch = options.burst
    ? setInterval(() => {
        if (current && held.size === 0 && Date.now() - lastActivity >= burstIdleMs) beginStop();
      }, burstIdleMs / 4)
    : undefined;

  const done = (async () => {
    let failures = 0;
    while (!(stopping && held.size === 0) && !hardStopped) {
      const started = Date.now();
      try {
        await runStream();
      } catch (error) {
        if (!stopping) onError(error);
      }
      if ((stopping && held.size === 0) || hardStopped) break;
      // A stream that lived a while was healthy: start the backoff over.
      if (Date.now() - started > 30_000) failures = 0;
      const backoff = Math.min(options.maxBackoffMs ?? 5000, (options.minBackoffMs ?? 100) * 2 ** failures++);
      await sleep(backoff * (0.5 + Math.random() / 2));
    }
    clearInterval(drainWatch);
    clearTimeout(shutdownTimer);
  })();

  return {
    done,
    async stop() {
      beginStop();
      await done;
    },
  };
}

function nackOf(jobId: string, error: unknown): Nack {
  return {
    jobId,
    leaseToken: "",
    error: errorMessage(error),
    deadLetter: error instanceof DeadLetterError,
    retryDelay: error instanceof RetryAfterError ? durationFromMs(error.retryAfterMs) : undefined,
  };
}

/**
 * An AbortController made only when a handler reads its signal: most handlers never do, and one
 * controller per job cost a worker more than decoding the job.
 */
class LazyAbort {
  private controller: AbortController | undefined;
  private reason: unknown;
  private aborted = false;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** Most entries, and about the most bytes, in one settle message; more go in the next. */
const MAX_SETTLE_ENTRIES = 1000;
const MAX_SETTLE_BYTES = 1024 * 1024;

/**
 * Request messages waiting to be sent on the stream, drained by the transport. Acks, nacks and
 * progress reports of one event-loop turn leave together, in one settle message.
 */
class Outbox implements AsyncIterable<SubscribeRequest> {
  private readonly outgoing = new Outgoing<SubscribeRequest>();
  private pending: Settle = { acks: [], nacks: [], progress: [] };
  private pendingEntries = 0;
  private pendingBytes = 0;
  private flushScheduled = false;

  send(message: OutgoingMessage): void {
    this.outgoing.push(create(SubscribeRequestSchema, { message }));
  }

  settle(report: Report): void {
    if (this.outgoing.ended) return;
    const bytes = reportBytes(report);
    if (this.pendingEntries >= MAX_SETTLE_ENTRIES || this.pendingBytes + bytes > MAX_SETTLE_BYTES) this.flush();
    if (report.case === "ack") this.pending.acks.push(report.value);
    else if (report.case === "nack") this.pending.nacks.push(report.value);
    else this.pending.progress.push(report.value);
    this.pendingEntries += 1;
    this.pendingBytes += bytes;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  private flush(): void {
    if (this.pendingEntries === 0) return;
    this.send({ case: "settle", value: this.pending });
    this.pending = { acks: [], nacks: [], progress: [] };
    this.pendingEntries = 0;
    this.pendingBytes = 0;
  }

  end(): void {
    this.flush();
    this.outgoing.end();
  }

  [Symbol.asyncIterator](): AsyncIterator<SubscribeRequest> {
    return this.outgoing[Symbol.asyncIterator]();
  }
}

/** About what a report weighs on the wire: its variable parts plus the ids. */
function reportBytes(report: Report): number {
  if (report.case === "ack") {
    const continuations = report.value.continueWith ?? [];
    return continuations.reduce((sum, job) => sum + 256 + (job.payload?.byteLength ?? 0), 64 + (report.value.result?.byteLength ?? 0));
  }
  if (report.case === "nack") return 64 + (report.value.error?.length ?? 0);
  return 64 + (report.value.message?.length ?? 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
