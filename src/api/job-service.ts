import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { EnqueueJobResponseSchema, EnqueueJobsResponseSchema, GetJobResponseSchema } from "../gen/baton/v1/job_pb.js";
import type { JobService } from "../gen/baton/v1/job_service_pb.js";
import type { Broker } from "../broker/broker.js";
import { invalidArgument, notFound } from "../errors.js";
import type { Database } from "../store/database.js";
import { jobGet } from "../store/jobs.js";
import { jobToProto } from "./job-mapper.js";
import { type EnqueueLimits, validateEnqueue, validateJobId } from "./validate.js";

export interface JobServiceDeps {
  broker: Broker;
  db: Database;
  limits: EnqueueLimits & { maxBatchSize: number };
}

export function createJobService({ broker, db, limits }: JobServiceDeps): Partial<ServiceImpl<typeof JobService>> {
  return {
    async enqueueJob(request) {
      const [inserted] = await broker.enqueue([validateEnqueue(request, limits)]);
      return create(EnqueueJobResponseSchema, { job: jobToProto(inserted!.job), deduplicated: inserted!.deduplicated });
    },

    async enqueueJobs(request) {
      if (request.jobs.length === 0) throw invalidArgument("jobs must not be empty");
      if (request.jobs.length > limits.maxBatchSize) {
        throw invalidArgument(`jobs has ${request.jobs.length} entries; the limit is ${limits.maxBatchSize}`);
      }
      const jobs = request.jobs.map((job, i) => validateEnqueue(job, limits, `jobs[${i}]`));
      const inserted = await broker.enqueue(jobs);
      return create(EnqueueJobsResponseSchema, {
        jobs: inserted.map((i) => jobToProto(i.job)),
        deduplicated: inserted.map((i) => i.deduplicated),
      });
    },

    async getJob(request) {
      const job = await jobGet(db, validateJobId(request.id));
      if (!job) throw notFound(`job ${request.id} not found`);
      return create(GetJobResponseSchema, { job: jobToProto(job) });
    },
  };
}
