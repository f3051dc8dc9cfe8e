import { type Client, type Transport, createClient } from "@connectrpc/connect";
import { JobService } from "./gen/baton/v1/job_service_pb.js";
import { QueueService } from "./gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "./gen/baton/v1/schedule_service_pb.js";
import { TokenService } from "./gen/baton/v1/token_service_pb.js";
import { WorkerService } from "./gen/baton/v1/worker_service_pb.js";

/** The generated client of every Baton service. */
export interface BatonServices {
  jobs: Client<typeof JobService>;
  queues: Client<typeof QueueService>;
  schedules: Client<typeof ScheduleService>;
  tokens: Client<typeof TokenService>;
  workers: Client<typeof WorkerService>;
}

/**
 * Every service over one transport. Free of Node's modules, so that a browser (the dashboard)
 * uses it with a Connect web transport; from Node, connectServices adds the client's transport.
 */
export function serviceClients(transport: Transport): BatonServices {
  return {
    jobs: createClient(JobService, transport),
    queues: createClient(QueueService, transport),
    schedules: createClient(ScheduleService, transport),
    tokens: createClient(TokenService, transport),
    workers: createClient(WorkerService, transport),
  };
}
