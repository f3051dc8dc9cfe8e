import type { Job } from "./gen/baton/v1/job_pb.js";
import type { Payload } from "./payload.js";
import type { JobContext } from "./handler.js";

/** Settles the jobs of one batch one by one; see BatchHandler. */
export interface BatchContext {
  /** The job's own context: its signal, progress reports and continueWith. */
  of(job: Job): JobContext;
  /** Acks the job now with its own result; its slot is free once the broker commits it. */
  ack(job: Job, result?: Payload): void;
  /** Fails the job's attempt now with its own error (RetryAfterError and DeadLetterError steer it, as from a handler). */
  fail(job: Job, error: unknown): void;
}

/**
 * Runs up to `maxJobs` jobs of one queue at once. Each job may be settled on its own with
 * `batch.ack` or `batch.fail`; when the handler returns, the jobs it left unsettled are acked
 * with no result, and when it throws, they all fail with that error.
 */
export type BatchHandler = (jobs: Job[], batch: BatchContext) => Promise<void> | void;

export interface BatchOptions {
  /** Most jobs per call; at least 1 and at most the worker's concurrency. */
  maxJobs: number;
  /** Longest a delivered job waits for others to fill its batch, in milliseconds. Default 20. */
  maxWaitMs?: number;
  /** Runs each batch. */
  handler: BatchHandler;
}

/** Refuses batch options a worker cannot honour, naming the option. */
export function validateBatchOptions(batch: BatchOptions, concurrency: number): Required<BatchOptions> {
  const { maxJobs, maxWaitMs = 20, handler } = batch;
  if (!Number.isInteger(maxJobs) || maxJobs < 1 || maxJobs > concurrency) {
    throw new RangeError(`batch.maxJobs must be an integer from 1 to the worker's concurrency (${concurrency}), got ${maxJobs}`);
  }
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) {
    throw new RangeError(`batch.maxWaitMs must be a finite number of milliseconds, at least 0, got ${maxWaitMs}`);
  }
  if (typeof handler !== "function") throw new TypeError("batch.handler must be a function");
  return { maxJobs, maxWaitMs, handler };
}

/**
 * Gathers delivered jobs into batches of one queue: a batch leaves once it has `maxJobs` jobs,
 * or `maxWaitMs` after its first job arrived, whichever comes first.
 */
export class BatchCollector<T extends { job: Job }> {
  private readonly waiting = new Map<string, { items: T[]; timer?: NodeJS.Timeout }>();

  constructor(
    private readonly maxJobs: number,
    private readonly maxWaitMs: number,
    private readonly dispatch: (items: T[]) => void,
  ) {}

  add(item: T): void {
    const queue = item.job.queue;
    let group = this.waiting.get(queue);
    if (!group) {
      group = { items: [] };
      this.waiting.set(queue, group);
    }
    group.items.push(item);
    if (group.items.length >= this.maxJobs) this.release(queue);
    else group.timer ??= setTimeout(() => this.release(queue), this.maxWaitMs);
  }

  /** Takes a job out of its waiting batch: its lease was lost, so no handler may see it. */
  remove(jobId: string): void {
    for (const [queue, group] of this.waiting) {
      const index = group.items.findIndex((item) => item.job.id === jobId);
      if (index < 0) continue;
      group.items.splice(index, 1);
      if (group.items.length === 0) {
        clearTimeout(group.timer);
        this.waiting.delete(queue);
      }
      return;
    }
  }

  /** Sends every waiting batch now: used when no further job can arrive to fill them. */
  releaseAll(): void {
    for (const queue of [...this.waiting.keys()]) this.release(queue);
  }

  private release(queue: string): void {
    const group = this.waiting.get(queue);
    if (!group) return;
    this.waiting.delete(queue);
    clearTimeout(group.timer);
    this.dispatch(group.items);
  }
}
