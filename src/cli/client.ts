import { type Client, type Interceptor, type Transport, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { QueueService } from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { WorkerService } from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";

/**
 * How long one ordinary call may take. A command line should fail rather than hang when the
 * address points at something that accepts connections but never answers.
 */
export const CALL_TIMEOUT_MS = 60_000;

export interface BrokerClients {
  jobs: Client<typeof JobService>;
  queues: Client<typeof QueueService>;
  schedules: Client<typeof ScheduleService>;
  workers: Client<typeof WorkerService>;
}

/**
 * Clients of every service over one gRPC (HTTP/2) connection to the broker at `url`. With
 * authentication on, the API token comes from BATON_TOKEN and is sent as a bearer token.
 */
export function connect(url: string, token = process.env.BATON_TOKEN): BrokerClients {
  const bearer: Interceptor = (next) => (request) => {
    if (token) request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const transport: Transport = createGrpcTransport({ baseUrl: url, defaultTimeoutMs: CALL_TIMEOUT_MS, interceptors: [bearer] });
  return {
    jobs: createClient(JobService, transport),
    queues: createClient(QueueService, transport),
    schedules: createClient(ScheduleService, transport),
    workers: createClient(WorkerService, transport),
  };
}
