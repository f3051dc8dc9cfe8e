import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client as RpcClient } from "@connectrpc/connect";
import {
  type EnqueueJobRequestSchema,
  type EnqueueJobsResponse,
  EnqueueJobsResponseSchema,
  type EnqueueJobsStreamRequest,
  EnqueueJobsStreamRequestSchema,
  type EnqueueJobsStreamResponse,
  type JobView,
} from "./gen/baton/v1/job_pb.js";
import type { JobService } from "./gen/baton/v1/job_service_pb.js";
import { Outgoing } from "./outgoing.js";

type Jobs = MessageInitShape<typeof EnqueueJobRequestSchema>[];

interface Waiting {
  request: EnqueueJobsStreamRequest;
  resolve: (response: EnqueueJobsResponse) => void;
  reject: (error: unknown) => void;
}

/**
 * Sends a client's batches over one EnqueueJobsStream, opened on first use: a producer that
 * enqueues often pays a message per batch instead of an HTTP/2 stream and a call per batch
 * (most of the time of a single enqueue). The answers are EnqueueJobs' own.
 *
 * An open stream keeps Node's event loop alive, so it is ended once nothing has been in flight
 * for `idleMs`, or by close(). Batches a stream did not get to are sent as EnqueueJobs calls:
 * - when the broker ended it cleanly (a replica shutting down answers what it read, then ends
 *   it), every batch still unanswered was never read;
 * - a broker without the RPC (UNIMPLEMENTED, before any answer) read none; it is remembered,
 *   and all batches go as calls from then on.
 * When the stream fails otherwise, its unanswered batches fail with its error: whether they
 * were created is unknown, as with a failed call.
 */
export class EnqueueStream {
  private open: OpenStream | undefined;
  private unsupported = false;
  private nextId = 1n;

  constructor(
    private readonly rpc: RpcClient<typeof JobService>,
    private readonly idleMs: number,
  ) {}

  async enqueue(jobs: Jobs, view: JobView): Promise<EnqueueJobsResponse> {
    if (this.unsupported) return this.rpc.enqueueJobs({ jobs, view });
    return new Promise((resolve, reject) => {
      const request = create(EnqueueJobsStreamRequestSchema, { requestId: this.nextId++, jobs, view });
      this.stream().send({ request, resolve, reject });
    });
  }

  /** Ends the stream now; later batches open a new one. */
  close(): void {
    this.open?.end();
    this.open = undefined;
  }

  private stream(): OpenStream {
    if (!this.open || this.open.ended) {
      const opened = new OpenStream(this.idleMs, (unread, unimplemented) => {
        if (this.open === opened) this.open = undefined;
        if (unimplemented) this.unsupported = true;
        for (const { request, resolve, reject } of unread) this.rpc.enqueueJobs({ jobs: request.jobs, view: request.view }).then(resolve, reject);
      });
      opened.start(this.rpc);
      this.open = opened;
    }
    return this.open;
  }
}

/** One EnqueueJobsStream call: its outgoing batches, and the ones awaiting an answer. */
class OpenStream {
  private readonly outgoing = new Outgoing<EnqueueJobsStreamRequest>();
  private readonly waiting = new Map<bigint, Waiting>();
  private idleTimer: ReturnType<typeof setTimeout> | undefined;
  /** An answer came back: the broker knows the RPC. */
  private answered = false;

  constructor(
    private readonly idleMs: number,
    /** Takes the batches the broker certainly did not read; `unimplemented` if it lacks the RPC. */
    private readonly onUnread: (unread: Waiting[], unimplemented: boolean) => void,
  ) {}

  start(rpc: RpcClient<typeof JobService>): void {
    void this.read(rpc.enqueueJobsStream(this.outgoing));
  }

  /** Half-closed: takes no more batches. */
  get ended(): boolean {
    return this.outgoing.ended;
  }

  send(waiting: Waiting): void {
    clearTimeout(this.idleTimer);
    this.waiting.set(waiting.request.requestId, waiting);
    this.outgoing.push(waiting.request);
  }

  /** Half-closes: the broker answers what it has and ends the call. */
  end(): void {
    clearTimeout(this.idleTimer);
    this.outgoing.end();
  }

  private async read(responses: AsyncIterable<EnqueueJobsStreamResponse>): Promise<void> {
    let failure: unknown;
    try {
      for await (const response of responses) {
        this.answered = true;
        this.answer(response);
      }
    } catch (error) {
      failure = error;
    }
    this.end();
    const left = [...this.waiting.values()];
    this.waiting.clear();
    if (failure === undefined) return this.onUnread(left, false);
    if (!this.answered && ConnectError.from(failure).code === Code.Unimplemented) return this.onUnread(left, true);
    for (const { reject } of left) reject(failure);
  }

  private answer(response: EnqueueJobsStreamResponse): void {
    const waiting = this.waiting.get(response.requestId);
    if (!waiting) return;
    this.waiting.delete(response.requestId);
    if (response.error) waiting.reject(new ConnectError(response.error.message, response.error.code));
    else waiting.resolve(create(EnqueueJobsResponseSchema, { jobs: response.jobs, deduplicated: response.deduplicated, jobIds: response.jobIds }));
    if (this.waiting.size === 0 && !this.ended) this.idleTimer = setTimeout(() => this.end(), this.idleMs);
  }
}
