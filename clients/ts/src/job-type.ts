import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { BatchHandler } from "./batch.js";
import type { BatonClient, EnqueueOptions, EnqueueResult, JobSpec } from "./client.js";
import { DeadLetterError, InvalidPayloadError } from "./errors.js";
import type { Job, JobResult } from "./gen/baton/v1/job_pb.js";
import type { JobContext, JobHandler } from "./handler.js";

type Input<S extends StandardSchemaV1> = StandardSchemaV1.InferInput<S>;
type Output<S extends StandardSchemaV1> = StandardSchemaV1.InferOutput<S>;

/** A delivered job of a typed batch, with its payload already read and validated. */
export interface TypedBatchJob<Payload> {
  job: Job;
  payload: Payload;
}

/** BatchContext with typed results: an ack validates the result first (a bad one fails the attempt). */
export interface TypedBatchContext<Result> {
  /** The job's own context: its signal, progress reports and continueWith. */
  of(job: Job): JobContext;
  /** Validates the result, then acks the job with it, or fails the attempt if it fails the schema. */
  ack(job: Job, result: Result): Promise<void>;
  /** Fails the job's attempt now with its own error. */
  fail(job: Job, error: unknown): void;
}

export interface JobTypeDefinition<P extends StandardSchemaV1, R extends StandardSchemaV1> {
  /** The queue every job of this type goes to. */
  queue: string;
  /** Schema of the payload: any Standard Schema validator (zod, valibot, arktype, ...). */
  payload: P;
  /** Schema of the result. */
  result: R;
  /** Options applied to every enqueue of this type; per-call options override them. */
  defaults?: EnqueueOptions;
}

/**
 * A kind of job declared once, for producers and workers alike. Payloads and results travel as
 * JSON of the schema's input type (what the TypeScript, Go and Python clients all read); both
 * ends validate, so a bad payload is rejected before it is enqueued and a handler only ever
 * sees the schema's output type.
 */
export interface JobType<P extends StandardSchemaV1, R extends StandardSchemaV1> {
  /** The queue every job of this type goes to. */
  readonly queue: string;
  /** The payload schema of the definition. */
  readonly payloadSchema: P;
  /** The result schema of the definition. */
  readonly resultSchema: R;
  /** Validates the payload (or throws InvalidPayloadError) and makes a spec for enqueueMany or continueWith. */
  spec(payload: Input<P>, options?: EnqueueOptions): Promise<JobSpec>;
  /** Validates the payload (or throws InvalidPayloadError) and enqueues it with `client`. */
  enqueue(client: BatonClient, payload: Input<P>, options?: EnqueueOptions): Promise<EnqueueResult>;
  /** Reads and validates a job's payload. */
  parsePayload(job: Job): Promise<Output<P>>;
  /**
   * Reads and validates a finished job's result, or a blocker's result as its dependant's
   * context carries it (`context.dependsOnResults`); an omitted one is an error (read that job
   * with getJob).
   */
  parseResult(job: Job | JobResult): Promise<Output<R>>;
  /**
   * A handler for runWorker. A payload that fails the schema fails the job for good (DEAD):
   * running it again cannot help. A result that fails the schema fails the attempt.
   */
  handler(fn: (payload: Output<P>, job: Job, context: JobContext) => Promise<Input<R>> | Input<R>): JobHandler;
  /**
   * A batch handler for runWorker's `batch` option. Jobs whose payload fails the schema end
   * DEAD before `fn` runs and are not passed to it; a result that fails the schema fails its
   * job's attempt. The handler's return waits for the acks it started.
   */
  batchHandler(fn: (jobs: TypedBatchJob<Output<P>>[], batch: TypedBatchContext<Input<R>>) => Promise<void> | void): BatchHandler;
}

export function defineJob<P extends StandardSchemaV1, R extends StandardSchemaV1>(definition: JobTypeDefinition<P, R>): JobType<P, R> {
  const { queue, payload: payloadSchema, result: resultSchema, defaults } = definition;
  const jobType: JobType<P, R> = {
    queue,
    payloadSchema,
    resultSchema,
    async spec(payload, options) {
      await validate(payloadSchema, payload, `${queue} payload`);
      return { ...defaults, ...options, queue, payload: JSON.stringify(payload) };
    },
    async enqueue(client, payload, options) {
      return client.enqueue(...specArgs(await jobType.spec(payload, options)));
    },
    parsePayload: (job) => validate(payloadSchema, decodeJson(job.payload), `${queue} payload of job ${job.id}`),
    async parseResult(job) {
      const id = job.$typeName === "baton.v1.JobResult" ? job.jobId : job.id;
      if (job.$typeName === "baton.v1.JobResult" && job.omitted) {
        throw new Error(`the result of job ${id} was omitted from the delivery (BATON_MAX_DEPENDS_ON_RESULT_BYTES); read it with getJob`);
      }
      return validate(resultSchema, decodeJson(job.result), `${queue} result of job ${id}`);
    },
    handler(fn) {
      return async (job, context) => {
        let payload: Output<P>;
        try {
          payload = await jobType.parsePayload(job);
        } catch (error) {
          throw new DeadLetterError((error as Error).message);
        }
        const result = await fn(payload, job, context);
        await validate(resultSchema, result, `${queue} result of job ${job.id}`);
        return JSON.stringify(result);
      };
    },
    batchHandler(fn) {
      return async (jobs, batch) => {
        const typedJobs: TypedBatchJob<Output<P>>[] = [];
        for (const job of jobs) {
          try {
            typedJobs.push({ job, payload: await jobType.parsePayload(job) });
          } catch (error) {
            batch.fail(job, new DeadLetterError((error as Error).message));
          }
        }
        if (typedJobs.length === 0) return;
        const acking: Promise<unknown>[] = [];
        const typedBatch: TypedBatchContext<Input<R>> = {
          of: (job) => batch.of(job),
          ack(job, result) {
            const ack = validate(resultSchema, result, `${queue} result of job ${job.id}`).then(
              () => batch.ack(job, JSON.stringify(result)),
              (error: unknown) => batch.fail(job, error),
            );
            // A refused ack (a job settled twice) rejects for its caller, not for the batch.
            acking.push(ack.catch(() => {}));
            return ack;
          },
          fail: (job, error) => batch.fail(job, error),
        };
        try {
          await fn(typedJobs, typedBatch);
        } finally {
          await Promise.all(acking);
        }
      };
    },
  };
  return jobType;
}

async function validate<S extends StandardSchemaV1>(schema: S, value: unknown, what: string): Promise<Output<S>> {
  const outcome = await schema["~standard"].validate(value);
  if (outcome.issues) {
    const details = outcome.issues.map((issue) => (issue.path?.length ? `${issue.path.map(pathKey).join(".")}: ` : "") + issue.message);
    throw new InvalidPayloadError(`invalid ${what}: ${details.join("; ")}`, outcome.issues);
  }
  return outcome.value;
}

function pathKey(segment: PropertyKey | StandardSchemaV1.PathSegment): string {
  return String(typeof segment === "object" ? segment.key : segment);
}

function decodeJson(bytes: Uint8Array): unknown {
  return bytes.length === 0 ? undefined : JSON.parse(new TextDecoder().decode(bytes));
}

function specArgs(spec: JobSpec): [string, JobSpec["payload"], EnqueueOptions] {
  const { queue, payload, ...options } = spec;
  return [queue, payload, options];
}
