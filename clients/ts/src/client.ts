import type { MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Client as RpcClient, createClient as createRpcClient } from "@connectrpc/connect";
import { DedupPolicy, type EnqueueJobRequestSchema, type Job, JobState, JobView } from "./gen/baton/v1/job_pb.js";
import { JobService } from "./gen/baton/v1/job_service_pb.js";
import { EnqueueStream } from "./enqueue-stream.js";
import { MAX_PAGE_SIZE, allPages } from "./pages.js";
import { type Payload, encodePayload } from "./payload.js";
import { type ConnectionOptions, resolveTransport } from "./transport.js";

export interface EnqueueOptions {
  /** String metadata stored with the job and handed to its worker (a "traceparent" links the job to a trace). */
  headers?: Record<string, string>;
  /** Lower runs first. */
  priority?: number;
  /** Run no earlier than this time. */
  runAt?: Date;
  /** Run no earlier than this many milliseconds from now (database time). */
  delayMs?: number;
  /** Attempts before the job is DEAD; the broker's default when unset. */
  maxAttempts?: number;
  /** While an unfinished job has this key on the queue, enqueueing returns it instead. */
  dedupKey?: string;
  /**
   * With dedupKey, what this enqueue does to the job that holds the key while it waits:
   * "keep" (the default) leaves it, "replace" gives it this payload and run time, "debounce"
   * only this run time. A running or finished job is never changed.
   */
  dedupPolicy?: "keep" | "replace" | "debounce";
  /** Longest time one attempt may run. */
  timeoutMs?: number;
  /** Ids of jobs that must succeed before this one runs. */
  dependsOn?: string[];
  /**
   * enqueueMany only: positions, in the same call, of earlier jobs that must succeed before
   * this one runs; its handler gets their results (context.dependsOnResults). A whole DAG goes
   * in one call, atomically, and without chainId joins the chain of its first position's job.
   */
  dependsOnIndex?: number[];
  /** Chain to join; unset starts a new chain rooted at this job. */
  chainId?: string;
  /** Groups jobs (e.g. per tenant) for the queue's per-key concurrency limit. */
  fairnessKey?: string;
}

export interface JobSpec extends EnqueueOptions {
  /** The queue the job goes to. */
  queue: string;
  /** The job's data: bytes as they are, a string as UTF-8, anything else as JSON. */
  payload?: Payload;
}

export interface EnqueueResult {
  /** The job as stored (LEASED at attempt 1 when it was handed straight to a waiting worker). */
  job: Job;
  /** True when an existing job with the same dedupKey was returned. */
  deduplicated: boolean;
}

/** What enqueueManyIds answers for each job. */
export interface EnqueuedId {
  /** The job's id. */
  id: string;
  /** True when an existing job with the same dedupKey was found; id is that job's. */
  deduplicated: boolean;
}

export interface BatonClient {
  enqueue(queue: string, payload?: Payload, options?: EnqueueOptions): Promise<EnqueueResult>;
  /** Creates all jobs in one transaction, or none. */
  enqueueMany(jobs: JobSpec[]): Promise<EnqueueResult[]>;
  /**
   * Like enqueueMany, but answers only each job's id: the fast path for bulk producers, since
   * building and decoding a full Job per entry is most of the time of a large batch.
   */
  enqueueManyIds(jobs: JobSpec[]): Promise<EnqueuedId[]>;
  getJob(id: string): Promise<Job>;
  /**
   * Resolves with the job once it is SUCCEEDED, DEAD or CANCELLED. Long-polls WaitJob; a
   * broker that answers UNIMPLEMENTED is polled with GetJob instead (50 ms growing to 1 s).
   */
  waitJob(id: string, options?: { signal?: AbortSignal }): Promise<Job>;
  /**
   * Resolves once every job of the chain of job `id` is finished (a DAG enqueued in one call
   * is one chain), with all of the chain's jobs, newest first. Long-polls WaitJob{chain}.
   */
  waitChain(id: string, options?: { signal?: AbortSignal }): Promise<Job[]>;
  /** The generated JobService client, for RPCs without a helper. */
  readonly jobs: RpcClient<typeof JobService>;
  /**
   * Ends the enqueue stream now instead of after `enqueueStreamIdleMs`, so that a script's
   * process can exit at once. The client stays usable.
   */
  close(): void;
}

export interface ClientOptions extends ConnectionOptions {
  /**
   * Send enqueues over one EnqueueJobsStream shared by all calls: much cheaper per call than
   * an EnqueueJobs call, for the broker and for this process. Default: true, unless
   * `transport` is given, since a transport of your own may add metadata per call (a
   * traceparent from an interceptor) that a shared stream cannot carry per batch, or may not
   * stream both ways (HTTP/1.1). Jobs on the stream take their trace context from their own
   * "traceparent" header.
   */
  enqueueStream?: boolean;
  /**
   * How long the enqueue stream stays open with nothing in flight (default 250 ms). An open
   * stream keeps Node's process alive; close() ends it at once.
   */
  enqueueStreamIdleMs?: number;
}

export function createClient(options: ClientOptions): BatonClient {
  const jobs = createRpcClient(JobService, resolveTransport(options));
  const stream = !(options.enqueueStream ?? options.transport === undefined) ? undefined : new EnqueueStream(jobs, options.enqueueStreamIdleMs ?? 250);
  const enqueueJobs = (specs: JobSpec[], view: JobView) => {
    const requests = specs.map(toRequest);
    return stream ? stream.enqueue(requests, view) : jobs.enqueueJobs({ jobs: requests, view });
  };
  return {
    jobs,
    async enqueue(queue, payload, enqueueOptions = {}) {
      const [result] = await this.enqueueMany([{ queue, payload, ...enqueueOptions }]);
      return result!;
    },
    async enqueueMany(specs) {
      const response = await enqueueJobs(specs, JobView.FULL);
      return response.jobs.map((job, i) => ({ job, deduplicated: response.deduplicated[i] ?? false }));
    },
    async enqueueManyIds(specs) {
      const response = await enqueueJobs(specs, JobView.ID);
      return response.jobIds.map((id, i) => ({ id, deduplicated: response.deduplicated[i] ?? false }));
    },
    close() {
      stream?.close();
    },
    async getJob(id) {
      return (await jobs.getJob({ id })).job!;
    },
    async waitJob(id, { signal } = {}) {
      for (;;) {
        let response;
        try {
          response = await jobs.waitJob({ id, timeout: durationFromMs(WAIT_SLICE_MS) }, { signal });
        } catch (error) {
          if (ConnectError.from(error).code !== Code.Unimplemented) throw error;
          return pollUntilFinished(() => this.getJob(id), signal);
        }
        if (isFinished(response.job!)) return response.job!;
      }
    },
    async waitChain(id, { signal } = {}) {
      for (;;) {
        const response = await jobs.waitJob({ id, chain: true, timeout: durationFromMs(WAIT_SLICE_MS) }, { signal });
        if (response.timedOut) continue;
        const chainId = response.job!.chainId;
        const rest =
          response.chainNextPageToken === ""
            ? []
            : await allPages(
                (pageToken) => jobs.listJobs({ filter: { chainId }, pageSize: MAX_PAGE_SIZE, pageToken: pageToken || response.chainNextPageToken }),
                (page) => page.jobs,
              );
        return [...response.chainJobs, ...rest];
      }
    },
  };
}

/** Bounds one WaitJob call, so a broker that drops a long request costs little. */
const WAIT_SLICE_MS = 30_000;

/** True when the job is SUCCEEDED, DEAD or CANCELLED: it will not change by itself. */
export function isFinished(job: Job): boolean {
  return job.state === JobState.SUCCEEDED || job.state === JobState.DEAD || job.state === JobState.CANCELLED;
}

async function pollUntilFinished(get: () => Promise<Job>, signal: AbortSignal | undefined): Promise<Job> {
  for (let delay = 50; ; delay = Math.min(1000, delay * 1.5)) {
    const job = await get();
    if (isFinished(job)) return job;
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

const DEDUP_POLICIES: Record<NonNullable<EnqueueOptions["dedupPolicy"]>, DedupPolicy> = {
  keep: DedupPolicy.KEEP,
  replace: DedupPolicy.REPLACE,
  debounce: DedupPolicy.DEBOUNCE,
};

/** Maps a friendly job spec onto the wire request. */
export function toRequest(spec: JobSpec): MessageInitShape<typeof EnqueueJobRequestSchema> {
  return {
    queue: spec.queue,
    payload: encodePayload(spec.payload),
    headers: spec.headers ?? {},
    priority: spec.priority ?? 0,
    maxAttempts: spec.maxAttempts ?? 0,
    dedupKey: spec.dedupKey ?? "",
    dedupPolicy: spec.dedupPolicy === undefined ? DedupPolicy.UNSPECIFIED : DEDUP_POLICIES[spec.dedupPolicy],
    dependsOn: spec.dependsOn ?? [],
    dependsOnIndex: spec.dependsOnIndex ?? [],
    chainId: spec.chainId ?? "",
    fairnessKey: spec.fairnessKey ?? "",
    timeout: spec.timeoutMs !== undefined ? durationFromMs(spec.timeoutMs) : undefined,
    start: spec.runAt
      ? { case: "runTime", value: timestampFromDate(spec.runAt) }
      : spec.delayMs !== undefined
        ? { case: "delay", value: durationFromMs(spec.delayMs) }
        : { case: undefined },
  };
}

export { JobState };
export type { Job };
