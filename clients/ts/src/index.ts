export { type BatchContext, type BatchHandler, type BatchOptions } from "./batch.js";
export {
  type BatonClient,
  type ClientOptions,
  type EnqueueOptions,
  type EnqueueResult,
  type EnqueuedId,
  type JobSpec,
  JobState,
  createClient,
  isFinished,
} from "./client.js";
export { DeadLetterError, InvalidPayloadError, RetryAfterError } from "./errors.js";
export type { Job } from "./gen/baton/v1/job_pb.js";
export { type JobType, type JobTypeDefinition, type TypedBatchContext, type TypedBatchJob, defineJob } from "./job-type.js";
export { MAX_PAGE_SIZE, allPages } from "./pages.js";
export type { Payload } from "./payload.js";
export { type BatonServices, serviceClients } from "./services.js";
export { type ConnectionOptions, connectServices } from "./transport.js";
export type { JobContext, JobHandler } from "./handler.js";
export { type Worker, type WorkerOptions, runWorker } from "./worker.js";
