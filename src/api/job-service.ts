import { create } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";
import {
  CancelJobResponseSchema,
  CancelJobsResponseSchema,
  DeleteJobResponseSchema,
  DeleteJobsResponseSchema,
  EnqueueJobResponseSchema,
  EnqueueJobsResponseSchema,
  type EnqueueJobRequest,
  type EnqueueJobsStreamRequest,
  EnqueueJobsStreamResponseSchema,
  GetJobResponseSchema,
  JobState,
  JobView,
  ListJobsResponseSchema,
  RetryJobResponseSchema,
  RetryJobsResponseSchema,
  WaitJobResponseSchema,
} from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import type { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import type { Broker } from "../broker/broker.js";
import { BatonError, invalidArgument, notFound } from "../errors.js";
import type { Database } from "../store/database.js";
import type { NewJob } from "../store/job-record.js";
import { type JobSearch, jobGet, jobListPage } from "../store/jobs.js";
import type { Logger } from "../util/log.js";
import { withProducerTraceparent } from "../telemetry/trace-context.js";
import { mapConcurrently } from "../util/map-concurrently.js";
import { admitStreamBatch } from "./admission.js";
import { checkQueueDepth } from "./queue-depth.js";
import { visibleQueues } from "./visibility.js";
import { mapStreamErrors, toConnectError } from "./error-mapping.js";
import { jobToProto } from "./job-mapper.js";
import { searchState, validateJobFilter } from "./job-filter.js";
import { MAX_PAGE_SIZE, decodePageToken, encodePageToken, pageSize } from "./page-token.js";
import { type EnqueueLimits, durationSeconds, validateEnqueue, validateJobId, validateQueueName } from "./validate.js";

export interface JobServiceDeps {
  broker: Broker;
  db: Database;
  log: Logger;
  /** BATON_MAX_QUEUE_DEPTH; 0 means no limit (see queue-depth.ts). */
  maxQueueDepth: number;
  limits: EnqueueLimits & {
    maxBatchSize: number;
    /** Most bytes of job data in one ListJobs page (BATON_MAX_PAGE_BYTES). */
    maxPageBytes: number;
    /** Most depends_on entries in one EnqueueJobs call (BATON_MAX_BATCH_DEPENDENCIES). */
    maxBatchDependencies: number;
  };
}

/**
 * Batches of one EnqueueJobsStream worked on at once. More would only queue for the database
 * pool; the producer's further batches wait in HTTP/2 flow control instead of broker memory.
 */
export const STREAM_BATCHES_AT_ONCE = 8;

/** Longest WaitJob; a longer wait is better done as several calls. */
export const MAX_WAIT_MS = 5 * 60_000;

export function createJobService({ broker, db, log, limits, maxQueueDepth }: JobServiceDeps): Partial<ServiceImpl<typeof JobService>> {
  /** Validated jobs, once their queues have room (BATON_MAX_QUEUE_DEPTH). */
  const admitted = async (jobs: NewJob[]): Promise<NewJob[]> => {
    if (maxQueueDepth > 0) await checkQueueDepth(db, jobs.map((job) => job.queue), maxQueueDepth);
    return jobs;
  };

  /**
   * EnqueueJobs' work: one transaction for the whole batch. `header` is the call's metadata, whose
   * traceparent the jobs inherit; a stream's batches have none of their own.
   */
  const enqueueBatch = async (requests: EnqueueJobRequest[], view: JobView, header: Headers | undefined) => {
    if (requests.length === 0) throw invalidArgument("jobs must not be empty");
    if (requests.length > limits.maxBatchSize) {
      throw invalidArgument(`jobs has ${requests.length} entries; the limit is ${limits.maxBatchSize} (BATON_MAX_BATCH_SIZE)`);
    }
    // Each entry is a lookup and a row written in the batch's one transaction.
    const dependencies = requests.reduce((sum, job) => sum + job.dependsOn.length + job.dependsOnIndex.length, 0);
    if (dependencies > limits.maxBatchDependencies) {
      throw invalidArgument(
        `jobs name ${dependencies} depends_on and depends_on_index entries in all; the limit is ${limits.maxBatchDependencies} (BATON_MAX_BATCH_DEPENDENCIES)`,
      );
    }
    const jobs = await admitted(requests.map((job, i) => validateEnqueue(job, limits, `jobs[${i}]`, i)));
    const inserted = await broker.enqueue(header ? withProducerTraceparent(jobs, header) : jobs);
    const deduplicated = inserted.map((i) => i.deduplicated);
    if (view === JobView.ID) return { jobIds: inserted.map((i) => i.job.id), deduplicated };
    return { jobs: inserted.map((i) => jobToProto(i.job)), deduplicated };
  };

  const answerStreamBatch = async (request: EnqueueJobsStreamRequest, context: HandlerContext) => {
    const { requestId } = request;
    try {
      await context.values.get(admitStreamBatch)(request);
      return create(EnqueueJobsStreamResponseSchema, { requestId, ...(await enqueueBatch(request.jobs, request.view, undefined)) });
    } catch (error) {
      const { code, rawMessage: message } = toConnectError(error, log);
      return create(EnqueueJobsStreamResponseSchema, { requestId, error: { code, message } });
    }
  };

  return {
    // The caller's trace context goes into the jobs' headers: their send spans are its children.
    async enqueueJob(request, context) {
      const jobs = await admitted([validateEnqueue(request, limits)]);
      const [inserted] = await broker.enqueue(withProducerTraceparent(jobs, context.requestHeader));
      return create(EnqueueJobResponseSchema, { job: jobToProto(inserted!.job), deduplicated: inserted!.deduplicated });
    },

    async enqueueJobs(request, context) {
      return create(EnqueueJobsResponseSchema, await enqueueBatch(request.jobs, request.view, context.requestHeader));
    },

    // Each batch is checked and answered alone: a refused one leaves the stream open. At
    // shutdown the stream ends cleanly once the batches it took are answered, so the producer
    // knows that any batch still unanswered was not read, and sends it again elsewhere.
    enqueueJobsStream: (requests, context) =>
      mapStreamErrors(
        mapConcurrently(requests, STREAM_BATCHES_AT_ONCE, (request) => answerStreamBatch(request, context), broker.shutdownSignal),
        log,
      ),

    async getJob(request) {
      const job = await jobGet(db, validateJobId(request.id));
      if (!job) throw notFound(`job ${request.id} not found`);
      return create(GetJobResponseSchema, { job: jobToProto(job) });
    },

    async listJobs(request) {
      const limit = pageSize(request.pageSize);
      const filter = validateJobFilter(request.filter, limits, "ListJobs");
      // queue, state and chain_id are the filter's older spelling: one way or the other.
      const both = (name: string, inFilter = name) => invalidArgument(`${name} and filter.${inFilter} are both set; set one of them`);
      if (request.queue !== "") {
        if (filter.queue !== undefined) throw both("queue");
        filter.queue = validateQueueName(request.queue);
      }
      if (request.state !== JobState.UNSPECIFIED) {
        if (filter.states !== undefined) throw both("state", "states");
        filter.states = [searchState(request.state, "state")];
      }
      if (request.chainId !== "") {
        if (filter.chainId !== undefined) throw both("chain_id");
        filter.chainId = validateJobId(request.chainId, "chain_id");
      }
      const { jobs, more } = await jobListPage(db, filter, {
        limit,
        maxBytes: limits.maxPageBytes,
        beforeId: request.pageToken === "" ? undefined : decodePageToken(request.pageToken),
      });
      return create(ListJobsResponseSchema, {
        jobs: jobs.map(jobToProto),
        nextPageToken: more ? encodePageToken(jobs[jobs.length - 1]!.id) : "",
      });
    },

    async cancelJob(request) {
      const id = validateJobId(request.id);
      const [cancelled] = await broker.cancel([id]);
      const job = await jobGet(db, id);
      if (!job) throw notFound(`job ${id} not found`);
      // Cancelling a running job again asks nothing new, and is no error.
      if (cancelled || (job.state === "leased" && job.cancelRequested)) return create(CancelJobResponseSchema, { job: jobToProto(job) });
      throw new BatonError("failed_precondition", `job ${id} is already finished (${job.state}); nothing to cancel`);
    },

    async cancelJobs(request) {
      const { cancelled, cancelRequested } = await broker.cancelMatching(validateJobFilter(request.filter, limits, "CancelJobs"));
      return create(CancelJobsResponseSchema, { cancelled: BigInt(cancelled), cancelRequested: BigInt(cancelRequested) });
    },

    async retryJob(request) {
      const id = validateJobId(request.id);
      const { revived, refused } = await broker.retry([id]);
      if (revived[0]) return create(RetryJobResponseSchema, { job: jobToProto(revived[0]) });
      if (refused[0]) throw new BatonError("failed_precondition", `job ${id} cannot be retried: ${refused[0].reason}`);
      const job = await jobGet(db, id);
      if (!job) throw notFound(`job ${id} not found`);
      throw new BatonError("failed_precondition", `job ${id} is ${job.state}; only dead or cancelled jobs can be retried`);
    },

    async retryJobs(request) {
      const filter = request.filter ? validateJobFilter(request.filter, limits, "RetryJobs") : legacyRetryFilter(request.queue, request.state);
      if (request.filter && (request.queue !== "" || request.state !== JobState.UNSPECIFIED)) {
        throw invalidArgument("filter is set with queue or state; with a filter, set filter.queue and filter.states instead");
      }
      const { revived, refused } = await broker.retryMatching(filter);
      return create(RetryJobsResponseSchema, { count: BigInt(revived), skipped: refused });
    },

    async deleteJobs(request) {
      const count = await broker.deleteMatching(validateJobFilter(request.filter, limits, "DeleteJobs"));
      return create(DeleteJobsResponseSchema, { count: BigInt(count) });
    },

    async deleteJob(request) {
      const id = validateJobId(request.id);
      const [deleted] = await broker.delete([id]);
      if (deleted) return create(DeleteJobResponseSchema, {});
      const job = await jobGet(db, id);
      if (!job) throw notFound(`job ${id} not found`);
      throw new BatonError("failed_precondition", `job ${id} is leased: a running job is never deleted; cancel it first`);
    },

    async waitJob(request, context) {
      const id = validateJobId(request.id);
      const timeoutMs = request.timeout ? durationSeconds(request.timeout, "timeout") * 1000 : MAX_WAIT_MS;
      if (timeoutMs < 0 || timeoutMs > MAX_WAIT_MS) throw invalidArgument(`timeout must be between 0 and ${MAX_WAIT_MS / 1000}s`);
      const { job, timedOut } = await broker.wait(id, timeoutMs, request.chain);
      if (!job) throw notFound(`job ${id} not found`);
      if (!request.chain) return create(WaitJobResponseSchema, { job: jobToProto(job), timedOut });
      // The chain's jobs as the first page of ListJobs with filter.chain_id would list them,
      // less those of queues the caller's token may not see (a chain may cross tenants' queues).
      const { jobs, more } = await jobListPage(db, { chainId: job.chainId }, { limit: MAX_PAGE_SIZE, maxBytes: limits.maxPageBytes });
      const visible = context.values.get(visibleQueues);
      return create(WaitJobResponseSchema, {
        job: jobToProto(job),
        timedOut,
        chainJobs: jobs.filter((chained) => visible(chained.queue)).map(jobToProto),
        chainNextPageToken: more ? encodePageToken(jobs[jobs.length - 1]!.id) : "",
      });
    },
  };
}

/** RetryJobs without a filter: the DEAD (or CANCELLED) jobs of one queue. */
function legacyRetryFilter(queue: string, state: JobState): JobSearch {
  const wanted = state === JobState.UNSPECIFIED ? JobState.DEAD : state;
  if (wanted !== JobState.DEAD && wanted !== JobState.CANCELLED) {
    throw invalidArgument("state must be JOB_STATE_DEAD or JOB_STATE_CANCELLED");
  }
  return { queue: validateQueueName(queue), states: [wanted === JobState.DEAD ? "dead" : "cancelled"] };
}
