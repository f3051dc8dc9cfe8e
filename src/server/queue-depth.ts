import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { isQueueName } from "../api/validate.js";
import { JobService } from "../gen/baton/v1/job_service_pb.js";
import type { EnqueueJobRequest, EnqueueJobsRequest } from "../gen/baton/v1/job_pb.js";
import type { Database } from "../store/database.js";
import { queueDepths } from "../store/access.js";

/**
 * BATON_MAX_QUEUE_DEPTH: EnqueueJob and EnqueueJobs are refused with RESOURCE_EXHAUSTED when
 * they would leave more than `maxDepth` jobs waiting (available, delayed or retrying) in a
 * queue, so producers feel back-pressure instead of filling the database. The count and the
 * insert are separate statements, so concurrent producers may overshoot by their batches: a
 * guard rail, not an exact quota. Continuations of an ack and cron jobs are not refused (the
 * work that creates them is already done).
 */
export function queueDepthInterceptor(db: Database, maxDepth: number): Interceptor {
  const enqueueJob = JobService.method.enqueueJob.name;
  const enqueueJobs = JobService.method.enqueueJobs.name;
  return (next) => async (req) => {
    if (req.stream || req.service.typeName !== JobService.typeName) return next(req);
    let jobs: EnqueueJobRequest[];
    if (req.method.name === enqueueJob) jobs = [req.message as EnqueueJobRequest];
    else if (req.method.name === enqueueJobs) jobs = (req.message as EnqueueJobsRequest).jobs;
    else return next(req);
    const adding = new Map<string, number>();
    for (const job of jobs) {
      // Malformed names are the handler's to refuse, with INVALID_ARGUMENT.
      if (isQueueName(job.queue)) adding.set(job.queue, (adding.get(job.queue) ?? 0) + 1);
    }
    if (adding.size === 0) return next(req);
    const depths = await queueDepths(db, [...adding.keys()], maxDepth);
    for (const [queue, n] of adding) {
      const depth = depths.get(queue) ?? 0;
      if (depth + n > maxDepth) {
        throw new ConnectError(
          `queue "${queue}" has ${depth >= maxDepth ? `${maxDepth} or more` : depth} jobs waiting; ` +
            `${n === 1 ? "one more" : `${n} more`} would exceed its limit of ${maxDepth} (BATON_MAX_QUEUE_DEPTH)`,
          Code.ResourceExhausted,
        );
      }
    }
    return next(req);
  };
}
