import { type DescService, clone, createFileRegistry, fromBinary } from "@bufbuild/protobuf";
import { type Transport, createClient } from "@connectrpc/connect";
import { type Duration, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import type { Job, JobResult } from "./gen/baton/v1/job_pb.js";
import {
  type SubscribeRequest,
  type SubscribeResponse,
  SubscribeResponse_JobBatchSchema,
  type WorkerService,
  file_baton_v1_worker_service,
} from "./gen/baton/v1/worker_service_pb.js";

/** What a worker needs of one delivery. */
export interface Delivery {
  job: Job;
  leaseToken: string;
  /** The results of the job's blockers (JobDelivery.depends_on_results). */
  dependsOnResults: JobResult[];
}

/** A SubscribeResponse whose `jobs` batch is still encoded (see RAW_JOBS_WORKER_SERVICE). */
export type RawSubscribeResponse = Omit<SubscribeResponse, "message"> & {
  message: Exclude<SubscribeResponse["message"], { case: "jobs" }> | { case: "jobs"; value: Uint8Array };
};

/** Field numbers of baton.v1 messages read here; test/job-batch-codec.test.ts checks them against the schema. */
const RESPONSE_JOBS = 7;
const BATCH_DELIVERIES = 1;
const DELIVERY = { job: 1, leaseToken: 2, dependsOnResults: 4 } as const;
const JOB_RESULT = { jobId: 1, result: 2, omitted: 3 } as const;
const JOB = { id: 1, queue: 2, payload: 4, headers: 5, priority: 6, attempt: 7, maxAttempts: 8, chainId: 13, parentId: 14, timeout: 20 } as const;
const VARINT_FIELDS: ReadonlySet<number> = new Set([JOB.priority, JOB.attempt, JOB.maxAttempts]);

/**
 * WorkerService as generated, except that SubscribeResponse's `jobs` (field 7) is read as plain
 * bytes: the wire format is the same, and decodeJobBatch reads the batch by hand. Decoding every
 * job by reflection was about half of a worker's CPU time per job.
 */
const RAW_JOBS_WORKER_SERVICE = rawJobsWorkerService();

/** WorkerService.Subscribe, answering `jobs` batches still encoded (see decodeJobBatch). */
export function subscribeRawJobs(transport: Transport, requests: AsyncIterable<SubscribeRequest>): AsyncIterable<RawSubscribeResponse> {
  // The generated typing, for a service that differs from it only in field 7's type.
  const client = createClient(RAW_JOBS_WORKER_SERVICE as typeof WorkerService, transport);
  return client.subscribe(requests) as AsyncIterable<RawSubscribeResponse>;
}

function rawJobsWorkerService(): DescService {
  const file = clone(FileDescriptorProtoSchema, file_baton_v1_worker_service.proto);
  const response = file.messageType.find((message) => message.name === "SubscribeResponse");
  const jobs = response?.field.find((field) => field.number === RESPONSE_JOBS);
  if (!jobs) throw new Error("baton.v1.SubscribeResponse has no field 7 (jobs)");
  jobs.type = FieldDescriptorProto_Type.BYTES;
  jobs.typeName = "";
  const registry = createFileRegistry(file, (name) => file_baton_v1_worker_service.dependencies.find((dependency) => dependency.proto.name === name));
  const service = registry.getService("baton.v1.WorkerService");
  if (!service) throw new Error("baton.v1.WorkerService is missing from its own file");
  return service;
}

/** Thrown inside the fast path at anything it does not read; the batch is then decoded generically. */
class UnknownField extends Error {}

/**
 * The deliveries of an encoded SubscribeResponse.JobBatch. The broker's lean jobs (hello.lean_jobs)
 * are read by hand into the same Job messages the generated code would build; anything else
 * (a field this client does not know, a full Job) falls back to the generated decoder.
 */
export function decodeJobBatch(bytes: Uint8Array): Delivery[] {
  try {
    const reader = new BinaryReader(bytes);
    const deliveries: Delivery[] = [];
    while (reader.pos < reader.len) {
      const [no, wireType] = reader.tag();
      if (no !== BATCH_DELIVERIES || wireType !== WireType.LengthDelimited) throw new UnknownField();
      deliveries.push(readDelivery(reader, reader.pos + reader.uint32()));
    }
    return deliveries;
  } catch (error) {
    if (!(error instanceof UnknownField)) throw error;
    return fromBinary(SubscribeResponse_JobBatchSchema, bytes).deliveries.map((d) => ({
      job: d.job!,
      leaseToken: d.leaseToken,
      dependsOnResults: d.dependsOnResults,
    }));
  }
}

function readDelivery(reader: BinaryReader, end: number): Delivery {
  let job: Job | undefined;
  let leaseToken = "";
  const dependsOnResults: JobResult[] = [];
  while (reader.pos < end) {
    const [no, wireType] = reader.tag();
    if (no === DELIVERY.job && wireType === WireType.LengthDelimited) job = readJob(reader, reader.pos + reader.uint32());
    else if (no === DELIVERY.leaseToken && wireType === WireType.LengthDelimited) leaseToken = reader.string();
    else if (no === DELIVERY.dependsOnResults && wireType === WireType.LengthDelimited) {
      dependsOnResults.push(readJobResult(reader, reader.pos + reader.uint32()));
    }
    // The lease's expiry (a worker needs only the stream's lease duration) and anything newer.
    else reader.skip(wireType, no);
  }
  return { job: job ?? emptyJob(), leaseToken, dependsOnResults };
}

function readJobResult(reader: BinaryReader, end: number): JobResult {
  const result: JobResult = { $typeName: "baton.v1.JobResult", jobId: "", result: new Uint8Array(0), omitted: false };
  while (reader.pos < end) {
    const [no, wireType] = reader.tag();
    if (no === JOB_RESULT.jobId && wireType === WireType.LengthDelimited) result.jobId = reader.string();
    else if (no === JOB_RESULT.result && wireType === WireType.LengthDelimited) result.result = reader.bytes();
    else if (no === JOB_RESULT.omitted && wireType === WireType.Varint) result.omitted = reader.bool();
    else throw new UnknownField();
  }
  return result;
}

function readJob(reader: BinaryReader, end: number): Job {
  const job = emptyJob();
  while (reader.pos < end) {
    const [no, wireType] = reader.tag();
    if (wireType !== (VARINT_FIELDS.has(no) ? WireType.Varint : WireType.LengthDelimited)) throw new UnknownField();
    switch (no) {
      case JOB.id:
        job.id = reader.string();
        break;
      case JOB.queue:
        job.queue = reader.string();
        break;
      case JOB.payload:
        job.payload = reader.bytes();
        break;
      case JOB.headers:
        readHeader(reader, reader.pos + reader.uint32(), job.headers);
        break;
      case JOB.priority:
        job.priority = reader.int32();
        break;
      case JOB.attempt:
        job.attempt = reader.int32();
        break;
      case JOB.maxAttempts:
        job.maxAttempts = reader.int32();
        break;
      case JOB.chainId:
        job.chainId = reader.string();
        break;
      case JOB.parentId:
        job.parentId = reader.string();
        break;
      case JOB.timeout:
        job.timeout = readDuration(reader, reader.pos + reader.uint32());
        break;
      default:
        throw new UnknownField();
    }
  }
  return job;
}

function readHeader(reader: BinaryReader, end: number, headers: Record<string, string>): void {
  let name = "";
  let value = "";
  while (reader.pos < end) {
    const [no, wireType] = reader.tag();
    if (no === 1) name = reader.string();
    else if (no === 2) value = reader.string();
    else reader.skip(wireType, no);
  }
  headers[name] = value;
}

function readDuration(reader: BinaryReader, end: number): Duration {
  const duration: Duration = { $typeName: "google.protobuf.Duration", seconds: 0n, nanos: 0 };
  while (reader.pos < end) {
    const [no, wireType] = reader.tag();
    if (no === 1) duration.seconds = BigInt(reader.int64());
    else if (no === 2) duration.nanos = reader.int32();
    else reader.skip(wireType, no);
  }
  return duration;
}

/** A Job with every field at its default, as create(JobSchema) makes it, without the reflection. */
function emptyJob(): Job {
  return {
    $typeName: "baton.v1.Job",
    id: "",
    queue: "",
    state: 0,
    payload: new Uint8Array(0),
    headers: {},
    priority: 0,
    attempt: 0,
    maxAttempts: 0,
    dedupKey: "",
    chainId: "",
    parentId: "",
    dependsOn: [],
    progressPercent: 0,
    progressMessage: "",
    result: new Uint8Array(0),
    lastError: "",
    errors: [],
    cancelRequested: false,
    fairnessKey: "",
  };
}
