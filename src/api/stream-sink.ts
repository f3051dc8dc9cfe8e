import { type MessageInitShape, create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  type SubscribeResponse,
  type SubscribeResponse_JobDelivery,
  SubscribeResponse_JobDeliverySchema,
  type SubscribeResponse_Settled,
  SubscribeResponse_SettledSchema,
  SubscribeResponseSchema,
} from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { type SessionSink, deliverySize } from "../broker/session.js";
import type { ClaimedJob } from "../store/job-record.js";
import type { Logger } from "../util/log.js";
import type { AsyncQueue } from "../util/async-queue.js";
import { type LeanDelivery, jobBatchResponse } from "./job-batch-codec.js";
import { jobToProto } from "./job-mapper.js";

/**
 * Most deliveries in one JobBatch. Bytes bound it too: gRPC clients refuse messages over 4 MiB
 * by default, so a batch closes before 2 MiB (a single larger job still goes, alone).
 */
const MAX_BATCH_JOBS = 1000;
const MAX_BATCH_BYTES = 2 * 1024 * 1024;

export interface SinkOptions {
  /** hello.batch: deliveries and settlement answers go out in batches, once per event-loop turn. */
  batch: boolean;
  /** hello.lean_jobs: deliveries carry only what a handler needs. */
  leanJobs: boolean;
  /** Ends the stream from the broker side with this reason. */
  close(reason: string): void;
  log: Logger;
}

type Message = MessageInitShape<typeof SubscribeResponseSchema>["message"];

/** The job ids of each message of deliveries, for the transport's receipts (Session.sent). */
const deliveredIds = new WeakMap<SubscribeResponse, readonly string[]>();

/** Jobs whose deliveries this message carries. */
export function deliveredJobIds(message: SubscribeResponse): readonly string[] {
  if (message.message.case === "job") return [message.message.value.job!.id];
  return deliveredIds.get(message) ?? [];
}

/** Turns what the broker sends down one stream into protobuf messages on its outbox. */
export function createSink(outbox: AsyncQueue<SubscribeResponse>, options: SinkOptions): SessionSink {
  const push = (message: Message) => outbox.push(create(SubscribeResponseSchema, { message }));
  const { log } = options;
  const debug = log.debugEnabled;
  // When each held job was pushed, for the debug line of its settlement.
  const deliveredAt = new Map<string, number>();
  const delivered = (job: ClaimedJob) => {
    if (!debug) return;
    deliveredAt.set(job.id, Date.now());
    log.debug("job delivered", { job: job.id, queue: job.queue, attempt: job.attempt, waitMs: Date.now() - job.runTime.getTime() });
  };
  const settledDebug = (settled: SubscribeResponse_Settled) => {
    if (!debug) return;
    const since = deliveredAt.get(settled.jobId);
    deliveredAt.delete(settled.jobId);
    const { jobId: job, ok, error } = settled;
    log.debug("job settled", { job, ok, ...(since !== undefined && { runMs: Date.now() - since }), ...(error && { error }) });
  };
  /** A full delivery: the whole Job, as protobuf-es builds it. */
  const fullDelivery = (job: ClaimedJob): SubscribeResponse_JobDelivery => {
    const proto = jobToProto(job.record!);
    // The worker's spans nest under this attempt's process span (written when it ends).
    proto.headers.traceparent = job.traceparent;
    return create(SubscribeResponse_JobDeliverySchema, {
      job: proto,
      leaseToken: job.leaseToken,
      leaseExpireTime: timestampFromDate(job.leaseExpireTime),
      dependsOnResults: job.dependsOnResults.map(({ jobId, result }) => (result === null ? { jobId, omitted: true } : { jobId, result })),
    });
  };

  const outgoing = (response: SubscribeResponse, ids: string[]) => {
    deliveredIds.set(response, ids);
    outbox.push(response);
  };
  let deliver: (job: ClaimedJob) => void;
  // What every batcher does whatever its deliveries: answer settlements, flush before control messages.
  let batcher: Pick<TurnBatcher<unknown>, "settled" | "flush"> | undefined;
  if (!options.batch) {
    deliver = (job) => push({ case: "job", value: fullDelivery(job) });
  } else if (options.leanJobs) {
    const lean = new TurnBatcher<LeanDelivery>(push, (items) => outgoing(jobBatchResponse(items), items.map((d) => d.id)));
    deliver = (job) => lean.delivery(leanDelivery(job), deliverySize(job));
    batcher = lean;
  } else {
    const full = new TurnBatcher<SubscribeResponse_JobDelivery>(push, (items) =>
      outgoing(create(SubscribeResponseSchema, { message: { case: "jobs", value: { deliveries: items } } }), items.map((d) => d.job!.id)),
    );
    deliver = (job) => full.delivery(fullDelivery(job), deliverySize(job));
    batcher = full;
  }
  return {
    job: (job) => {
      delivered(job);
      deliver(job);
    },
    settled: (jobId, ok, error) => {
      const value = create(SubscribeResponse_SettledSchema, { jobId, ok, error });
      settledDebug(value);
      if (batcher) batcher.settled(value);
      else push({ case: "settled", value });
    },
    leaseLost: (jobId) => {
      deliveredAt.delete(jobId);
      // After the deliveries and answers of this turn: a lease_lost never overtakes its job.
      batcher?.flush();
      push({ case: "leaseLost", value: { jobId } });
    },
    cancel: (jobId) => {
      batcher?.flush();
      push({ case: "cancel", value: { jobId } });
    },
    ping: () => push({ case: "ping", value: {} }),
    flush: () => batcher?.flush(),
    close: (reason) => {
      batcher?.flush();
      options.close(reason);
    },
  };
}

/** What a handler needs of a claimed job (hello.lean_jobs), with the attempt's traceparent. */
function leanDelivery(job: ClaimedJob): LeanDelivery {
  return {
    id: job.id,
    queue: job.queue,
    payload: job.payload,
    // The worker's spans nest under this attempt's process span (written when it ends).
    headers: { ...job.headers, traceparent: job.traceparent },
    priority: job.priority,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    chainId: job.chainId,
    parentId: job.parentId ?? "",
    timeoutMs: job.timeoutSeconds === null ? undefined : Math.round(job.timeoutSeconds * 1000),
    leaseToken: job.leaseToken,
    leaseExpireMs: job.leaseExpireTime.getTime(),
    dependsOnResults: job.dependsOnResults,
  };
}

/**
 * Collects the deliveries and settlement answers of one event-loop turn into as few messages
 * as the caps allow: a claim hands out hundreds of jobs and a settle statement answers hundreds
 * of acks in one synchronous pass, and one message each costs a fraction of hundreds.
 */
class TurnBatcher<D> {
  private deliveries: D[] = [];
  private deliveryBytes = 0;
  private committed: string[] = [];
  private refused: SubscribeResponse_Settled[] = [];
  private scheduled = false;

  constructor(
    private readonly push: (message: Message) => void,
    private readonly sendDeliveries: (deliveries: D[]) => void,
  ) {}

  delivery(value: D, bytes: number): void {
    if (this.deliveries.length >= MAX_BATCH_JOBS || (this.deliveries.length > 0 && this.deliveryBytes + bytes > MAX_BATCH_BYTES)) {
      this.flushDeliveries();
    }
    this.deliveries.push(value);
    this.deliveryBytes += bytes;
    this.schedule();
  }

  settled(value: SubscribeResponse_Settled): void {
    if (value.ok) this.committed.push(value.jobId);
    else this.refused.push(value);
    this.schedule();
  }

  flush(): void {
    this.flushDeliveries();
    if (this.committed.length > 0 || this.refused.length > 0) {
      this.push({ case: "settledBatch", value: { committed: this.committed, refused: this.refused } });
      this.committed = [];
      this.refused = [];
    }
  }

  private flushDeliveries(): void {
    if (this.deliveries.length === 0) return;
    this.sendDeliveries(this.deliveries);
    this.deliveries = [];
    this.deliveryBytes = 0;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }
}
