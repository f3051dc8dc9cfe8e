import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { createClient as createRpcClient } from "@connectrpc/connect";
import type { Job } from "./gen/baton/v1/job_pb.js";
import {
  type SubscribeRequest,
  SubscribeRequestSchema,
  type SubscribeResponse,
  WorkerService,
} from "./gen/baton/v1/worker_service_pb.js";
import { type JobSpec, toRequest } from "./client.js";
import { type Payload, encodePayload } from "./payload.js";
import { type ConnectionOptions, resolveTransport } from "./transport.js";

export interface JobContext {
  /** Aborted when the job is cancelled, its lease is lost, or the worker stops hard. */
  signal: AbortSignal;
  /** Reports progress; only the latest report per job is stored. */
  progress(percent: number, message?: string): void;
  /** Next jobs of the chain, created in the same transaction as this job's ack. */
  continueWith(...jobs: JobSpec[]): void;
}

/** Returns the job's result; throwing fails the attempt (it is retried with backoff). */
export type JobHandler = (job: Job, context: JobContext) => Promise<Payload> | Payload;

export interface WorkerOptions extends ConnectionOptions {
  queues: string[];
  handler: JobHandler;
  /** Jobs run at once; also the stream's max_in_flight. Default 10. */
  concurrency?: number;
  /** Name shown to operators. Default: "<hostname>-<pid>". */
  workerId?: string;
  /** Called with errors the worker survives (a dropped stream, a refused ack). */
  onError?(error: unknown): void;
  /** Reconnect backoff bounds, in milliseconds. Default 100 and 5000. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface Worker {
  /**
   * Graceful stop: take no new jobs, let running handlers finish and their outcomes be
   * committed, then close the stream.
   */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped. */
  readonly done: Promise<void>;
}

type Outgoing = MessageInitShape<typeof SubscribeRequestSchema>["message"];

interface Running {
  leaseToken: string;
  abort: AbortController;
  /** False once the lease is gone: the outcome could no longer be committed. */
  leaseHeld: boolean;
}

/**
 * Runs `handler` for every job of `queues`, over one Subscribe stream that reconnects with
 * backoff when it drops. The broker renews leases while the stream lives, so handlers never
 * heartbeat; a job whose stream dropped is released by the broker and its handler aborted.
 */
export function runWorker(options: WorkerOptions): Worker {
  const client = createRpcClient(WorkerService, resolveTransport(options));
  const concurrency = options.concurrency ?? 10;
  const workerId = options.workerId ?? `${process.env.HOSTNAME ?? "worker"}-${process.pid}`;
  const onError = options.onError ?? (() => {});
  const running = new Map<string, Running>();
  /** Jobs whose ack or nack was sent but not yet confirmed by `settled`. */
  const unsettled = new Set<string>();
  let stopping = false;
  let closeStream: (() => void) | undefined;
  let idle: (() => void) | undefined;

  const runStream = async (): Promise<void> => {
    const outbox = new Outbox();
    closeStream = () => outbox.end();
    let pendingCredit = 0;
    const grantCredit = () => {
      if (pendingCredit === 0) queueMicrotask(() => {
        if (!stopping) outbox.send({ case: "credit", value: { n: pendingCredit } });
        pendingCredit = 0;
      });
      pendingCredit += 1;
    };
    outbox.send({ case: "hello", value: { workerId, queues: options.queues, maxInFlight: concurrency } });
    try {
      for await (const response of client.subscribe(outbox)) {
        handleResponse(response, outbox, grantCredit);
      }
    } finally {
      outbox.end();
      closeStream = undefined;
      // The broker released these leases when the stream ended; their outcome cannot land.
      for (const job of running.values()) {
        job.leaseHeld = false;
        job.abort.abort(new Error("worker stream closed"));
      }
      running.clear();
      unsettled.clear();
      checkIdle();
    }
  };

  const handleResponse = (response: SubscribeResponse, outbox: Outbox, grantCredit: () => void) => {
    const message = response.message;
    switch (message.case) {
      case "job":
        void runJob(message.value.job!, message.value.leaseToken, outbox, grantCredit);
        return;
      case "cancel":
        // The handler should stop; its outcome (usually a throw) still settles the job, which
        // the broker then records as CANCELLED.
        running.get(message.value.jobId)?.abort.abort(new Error("job cancelled"));
        return;
      case "leaseLost": {
        const job = running.get(message.value.jobId);
        if (job) job.leaseHeld = false;
        job?.abort.abort(new Error("lease lost"));
        return;
      }
      case "settled":
        unsettled.delete(message.value.jobId);
        if (!message.value.ok) onError(new Error(`job ${message.value.jobId} not settled: ${message.value.error}`));
        checkIdle();
        return;
      case "ping":
        outbox.send({ case: "pong", value: {} });
        return;
      default:
        return;
    }
  };

  const runJob = async (job: Job, leaseToken: string, outbox: Outbox, grantCredit: () => void) => {
    const abort = new AbortController();
    const entry: Running = { leaseToken, abort, leaseHeld: true };
    running.set(job.id, entry);
    const continuations: JobSpec[] = [];
    const context: JobContext = {
      signal: abort.signal,
      progress: (percent, text = "") =>
        outbox.send({ case: "progress", value: { jobId: job.id, leaseToken, percent: Math.round(percent), message: text } }),
      continueWith: (...jobs) => continuations.push(...jobs),
    };
    let outcome: Outgoing;
    try {
      const result = await options.handler(job, context);
      outcome = {
        case: "ack",
        value: { jobId: job.id, leaseToken, result: encodePayload(result), continueWith: continuations.map(toRequest) },
      };
    } catch (error) {
      outcome = { case: "nack", value: { jobId: job.id, leaseToken, error: errorMessage(error) } };
    }
    // Only the stream that delivered the job can settle it: after a reconnect the lease is gone.
    if (running.get(job.id) === entry && entry.leaseHeld) {
      unsettled.add(job.id);
      outbox.send(outcome);
      grantCredit();
    }
    running.delete(job.id);
    checkIdle();
  };

  const checkIdle = () => {
    if (running.size === 0 && unsettled.size === 0) idle?.();
  };

  const done = (async () => {
    let failures = 0;
    while (!stopping) {
      const started = Date.now();
      try {
        await runStream();
      } catch (error) {
        if (!stopping) onError(error);
      }
      if (stopping) break;
      // A stream that lived a while was healthy: start the backoff over.
      if (Date.now() - started > 30_000) failures = 0;
      const backoff = Math.min(options.maxBackoffMs ?? 5000, (options.minBackoffMs ?? 100) * 2 ** failures++);
      await sleep(backoff * (0.5 + Math.random() / 2));
    }
  })();

  return {
    done,
    async stop() {
      stopping = true;
      // Close only once every outcome is committed, so none races the release of the stream.
      const settledAll = new Promise<void>((resolve) => (idle = resolve));
      checkIdle();
      await Promise.race([settledAll, done]);
      closeStream?.();
      await done;
    },
  };
}

/** Request messages waiting to be sent on the stream, drained by the transport. */
class Outbox implements AsyncIterable<SubscribeRequest> {
  private items: SubscribeRequest[] = [];
  private wake: (() => void) | undefined;
  private ended = false;

  send(message: Outgoing): void {
    if (this.ended) return;
    this.items.push(create(SubscribeRequestSchema, { message }));
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<SubscribeRequest> {
    for (;;) {
      if (this.items.length > 0) {
        const batch = this.items;
        this.items = [];
        yield* batch;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
