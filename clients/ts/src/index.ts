export { type BatonClient, type EnqueueOptions, type EnqueueResult, type JobSpec, JobState, createClient } from "./client.js";
export type { Job } from "./gen/baton/v1/job_pb.js";
export type { Payload } from "./payload.js";
export type { ConnectionOptions } from "./transport.js";
export { type JobContext, type JobHandler, type Worker, type WorkerOptions, runWorker } from "./worker.js";
