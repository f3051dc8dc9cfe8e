import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import {
  ListWorkersResponseSchema,
  type SubscribeRequest,
  type SubscribeRequest_Ack,
  type SubscribeRequest_Nack,
  type SubscribeRequest_Progress,
  type SubscribeResponse,
  SubscribeResponseSchema,
  WorkerSchema,
  type WorkerService,
} from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import type { Broker } from "../broker/broker.js";
import type { Database } from "../store/database.js";
import { WORKER_STALE_SECONDS, workerList } from "../store/workers.js";
import type { Session } from "../broker/session.js";
import { BatonError, invalidArgument } from "../errors.js";
import type { StreamLimits } from "../config.js";
import type { Logger } from "../util/log.js";
import { AsyncQueue } from "../util/async-queue.js";
import { mapStreamErrors, toConnectError } from "./error-mapping.js";
import { createSink, deliveredJobIds } from "./stream-sink.js";
import { visibleQueues } from "./visibility.js";
import {
  type EnqueueLimits,
  reportText,
  validateEnqueue,
  validateJobId,
  validateLabels,
  validateLeaseToken,
  validateQueueName,
  validateRetryDelay,
  validateText,
} from "./validate.js";

export interface WorkerServiceDeps {
  broker: Broker;
  db: Database;
  log: Logger;
  limits: EnqueueLimits & { maxInFlight: number };
  stream: StreamLimits;
  /** How long a new stream may take to send hello. */
  helloTimeoutMs: number;
  /** Longest resume grace a worker may ask for. */
  maxResumeGraceMs: number;
}

export function createWorkerService(deps: WorkerServiceDeps): Partial<ServiceImpl<typeof WorkerService>> {
  return {
    subscribe: (requests, context) => mapStreamErrors(subscribe(deps, requests, context), deps.log),

    async listWorkers(request, context) {
      const queue = request.queue === "" ? undefined : validateQueueName(request.queue);
      const workers = await workerList(deps.db, queue, WORKER_STALE_SECONDS);
      // A worker shows with the queues the caller may see, and not at all without one of them:
      // other tenants' queues and workers stay unknown to it.
      const visible = context.values.get(visibleQueues);
      const shown = workers.map((w) => ({ ...w, queues: w.queues.filter(visible) })).filter((w) => w.queues.length > 0);
      return create(ListWorkersResponseSchema, {
        workers: shown.map((w) =>
          create(WorkerSchema, {
            workerId: w.workerId,
            sessionId: w.sessionId,
            queues: w.queues,
            inFlight: w.inFlight,
            maxInFlight: w.maxInFlight,
            connectTime: timestampFromDate(w.connectTime),
            lastSeenTime: timestampFromDate(w.lastSeenTime),
            replica: w.replica,
            labels: w.labels,
          }),
        ),
      });
    },
  };
}

/** Control messages (settled, pings) a stream may have waiting beyond its jobs. */
const OUTBOX_SLACK = 64;

type Hello = Extract<SubscribeRequest["message"], { case: "hello" }>["value"];

/**
 * One worker stream. Requests are read by a separate loop while this generator writes what the
 * broker pushes, so a slow writer never stalls acks and vice versa.
 */
async function* subscribe(
  deps: WorkerServiceDeps,
  requests: AsyncIterable<SubscribeRequest>,
  context: HandlerContext,
): AsyncGenerator<SubscribeResponse> {
  const { broker, log } = deps;
  const iterator = requests[Symbol.asyncIterator]();
  const hello = validateHello(await firstMessage(iterator, deps.helloTimeoutMs), deps.limits.maxInFlight, deps.stream.maxQueues);
  const outbox = new AsyncQueue<SubscribeResponse>();
  let closeError: ConnectError | undefined;
  const { session, resumed } = await broker.openSession({
    workerId: hello.workerId,
    queues: hello.queues,
    labels: hello.labels,
    maxInFlight: hello.maxInFlight,
    maxUnreadBytes: deps.stream.maxBufferedBytes,
    creditOnSettle: hello.creditOnSettle,
    leanJobs: hello.leanJobs,
    resume: hello.resume.map((lease, i) => ({
      jobId: validateJobId(lease.jobId, `hello.resume[${i}].job_id`),
      leaseToken: validateLeaseToken(lease.leaseToken),
    })),
    sink: createSink(outbox, {
      batch: hello.batch,
      leanJobs: hello.leanJobs,
      close: (reason) => {
        closeError = toConnectError(new BatonError("unavailable", reason), log);
        outbox.end();
      },
      log: log.child({ worker: hello.workerId }),
    }),
  });
  const resumeGraceMs = Math.min(deps.maxResumeGraceMs, hello.resumeGrace ? Math.max(0, durationMs(hello.resumeGrace)) : 0);
  const sessionLog = log.child({ session: session.id, worker: hello.workerId });
  sessionLog.info("worker stream opened", { queues: hello.queues, labels: hello.labels, maxInFlight: hello.maxInFlight });
  outbox.push(
    create(SubscribeResponseSchema, {
      message: {
        case: "welcome",
        value: { sessionId: session.id, leaseDuration: durationFromMs(broker.leaseSecondsFor(hello.queues) * 1000), resumed },
      },
    }),
  );

  void (async () => {
    try {
      for (;;) {
        // A worker that stops reading stops being read: replies it has not taken (at most its
        // jobs plus a few settlements) cap what the broker buffers, and HTTP/2 flow control
        // then holds the worker's writes back.
        await outbox.waitForRoom(hello.maxInFlight + OUTBOX_SLACK);
        const next = await iterator.next();
        if (next.done) break;
        session.touch();
        handleRequest(deps, session, next.value);
      }
    } catch (error) {
      // A protocol violation ends the stream with its code; anything else means the transport
      // broke (the worker vanished or cancelled).
      if (error instanceof BatonError) closeError = toConnectError(error, sessionLog);
      else sessionLog.info("worker stream broke", { error });
    } finally {
      outbox.end();
    }
  })();
  const onAbort = () => outbox.end();
  context.signal.addEventListener("abort", onAbort);
  try {
    for await (const message of outbox) {
      yield message;
      // Connect asks for the next message once the transport took this one (HTTP/2 flow
      // control permitting): only now has the delivery left the broker's own buffers.
      if (deliveriesSent(session, message)) broker.deliveriesResumed(session);
    }
    // The reading loop records its error before it ends the outbox; it is not awaited, since
    // a stream closed by the broker may still be waiting for the worker's next message.
    if (closeError) throw closeError;
  } finally {
    context.signal.removeEventListener("abort", onAbort);
    // A worker that asked for a resume grace gets it however its stream ended: a broken
    // connection often looks like a clean end to the server. Streams the broker closed itself
    // (silence, shutdown) were released already.
    await broker.closeSession(session, "worker stream ended", resumeGraceMs);
    sessionLog.info("worker stream closed");
  }
}

async function firstMessage(iterator: AsyncIterator<SubscribeRequest>, timeoutMs: number): Promise<SubscribeRequest> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BatonError("deadline_exceeded", `no hello within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const first = await Promise.race([iterator.next(), timeout]);
    if (first.done) throw invalidArgument("stream ended before hello");
    return first.value;
  } finally {
    clearTimeout(timer);
  }
}

function validateHello(request: SubscribeRequest, maxInFlightLimit: number, maxQueues: number): Hello {
  if (request.message.case !== "hello") {
    throw invalidArgument(`the first message of Subscribe must be hello, not ${request.message.case ?? "an empty message"}`);
  }
  const hello = request.message.value;
  // The worker registry stores it.
  validateText(hello.workerId, "hello.worker_id", 256);
  if (hello.queues.length === 0) throw invalidArgument("hello.queues must name at least one queue");
  // Every queue of a stream costs a claim candidate and a wakeup route: bounded before any is looked at.
  if (hello.queues.length > maxQueues) {
    throw invalidArgument(`hello.queues names ${hello.queues.length} queues; the limit is ${maxQueues} (BATON_MAX_QUEUES_PER_STREAM)`);
  }
  hello.queues.forEach((queue, i) => validateQueueName(queue, `hello.queues[${i}]`));
  validateLabels(hello.labels, "hello.labels");
  if (hello.maxInFlight < 1 || hello.maxInFlight > maxInFlightLimit) {
    throw invalidArgument(`hello.max_in_flight must be between 1 and ${maxInFlightLimit}`);
  }
  // A stream holds at most twice its max_in_flight leases (see Session); a worker may come back
  // with a smaller max_in_flight than it had, so the bound is the broker's, not this hello's.
  if (hello.resume.length > 2 * maxInFlightLimit) {
    throw invalidArgument(`hello.resume names ${hello.resume.length} leases; no stream can hold more than ${2 * maxInFlightLimit}`);
  }
  hello.queues = [...new Set(hello.queues)];
  return hello;
}

function handleRequest(deps: WorkerServiceDeps, session: Session, request: SubscribeRequest): void {
  const message = request.message;
  switch (message.case) {
    case "credit":
      if (message.value.n < 0) throw invalidArgument("credit.n must not be negative");
      deps.broker.grantCredit(session, message.value.n);
      return;
    case "ack":
      return handleAck(deps, session, message.value, "ack");
    case "nack":
      return handleNack(deps, session, message.value, "nack");
    case "progress":
      return handleProgress(deps, session, message.value, "progress");
    case "settle": {
      const { acks, nacks, progress } = message.value;
      // A stream holds at most twice max_in_flight leases (see Session), each with at most an
      // ack or nack and a progress report pending: more entries than that is a broken client.
      const limit = 4 * deps.limits.maxInFlight;
      const entries = acks.length + nacks.length + progress.length;
      if (entries > limit) throw invalidArgument(`settle carries ${entries} entries; the limit is ${limit}`);
      acks.forEach((ack, i) => handleAck(deps, session, ack, `settle.acks[${i}]`));
      nacks.forEach((nack, i) => handleNack(deps, session, nack, `settle.nacks[${i}]`));
      progress.forEach((report, i) => handleProgress(deps, session, report, `settle.progress[${i}]`));
      return;
    }
    case "drain":
      session.drain();
      return;
    case "pong":
      return;
    case "hello":
      throw invalidArgument("hello may be sent only once per stream");
    default:
      throw invalidArgument("empty SubscribeRequest");
  }
}

type Ack = SubscribeRequest_Ack;
type Nack = SubscribeRequest_Nack;
type Progress = SubscribeRequest_Progress;

function handleAck(deps: WorkerServiceDeps, session: Session, ack: Ack, field: string): void {
  const lease = leaseOf(session, ack, field);
  if (!lease) return;
  const { continueWith } = ack;
  let continuations;
  try {
    if (continueWith.length > deps.stream.maxContinuations) {
      throw invalidArgument(
        `${field}.continue_with has ${continueWith.length} entries; the limit is ${deps.stream.maxContinuations} (BATON_MAX_CONTINUATIONS)`,
      );
    }
    continuations = continueWith.map((job, i) => ({ ...validateEnqueue(job, deps.limits, `${field}.continue_with[${i}]`), parentId: lease.jobId }));
  } catch (error) {
    deps.broker.refuse(session, lease, (error as Error).message);
    return;
  }
  deps.broker.ack(session, lease, ack.result, continuations);
}

function handleNack(deps: WorkerServiceDeps, session: Session, nack: Nack, field: string): void {
  const lease = leaseOf(session, nack, field);
  if (!lease) return;
  // Checked before the nack joins a batch: one bad nack must not fail the others written with it.
  let error, retryDelaySeconds;
  try {
    error = reportText(nack.error, `${field}.error`, deps.stream.maxErrorBytes);
    retryDelaySeconds = validateRetryDelay(nack.retryDelay, `${field}.retry_delay`);
  } catch (refusal) {
    deps.broker.refuse(session, lease, (refusal as Error).message);
    return;
  }
  deps.broker.nack(session, { ...lease, error, retryDelaySeconds, deadLetter: nack.deadLetter });
}

function handleProgress(deps: WorkerServiceDeps, session: Session, progress: Progress, field: string): void {
  const lease = leaseOf(session, progress, field);
  if (!lease) return;
  let text;
  try {
    text = reportText(progress.message, `${field}.message`, deps.stream.maxProgressBytes);
  } catch (error) {
    // Progress is advisory: the job keeps running and its lease stays held.
    session.sink.settled(lease.jobId, false, (error as Error).message);
    return;
  }
  const percent = Math.min(100, Math.max(0, progress.percent));
  deps.broker.reportProgress(session, { ...lease, percent, message: text });
}

/**
 * Checks the lease fields of an ack, nack or progress message. Malformed ones are answered
 * with settled(ok=false) and otherwise ignored, so one bad message does not end the stream.
 */
function leaseOf(session: Session, message: { jobId: string; leaseToken: string }, field: string) {
  try {
    return { jobId: validateJobId(message.jobId, `${field}.job_id`), leaseToken: validateLeaseToken(message.leaseToken) };
  } catch (error) {
    session.sink.settled(message.jobId, false, (error as Error).message);
    return undefined;
  }
}

/** Marks a message's deliveries as taken by the transport; true when that lets deliveries resume. */
function deliveriesSent(session: Session, message: SubscribeResponse): boolean {
  let resumed = false;
  for (const jobId of deliveredJobIds(message)) resumed = session.sent(jobId) || resumed;
  return resumed;
}
