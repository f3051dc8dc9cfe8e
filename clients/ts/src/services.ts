import { type Client, createClient } from "@connectrpc/connect";
import { JobService } from "./gen/baton/v1/job_service_pb.js";
import { QueueService } from "./gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "./gen/baton/v1/schedule_service_pb.js";
import { WorkerService } from "./gen/baton/v1/worker_service_pb.js";
import { type ConnectionOptions, resolveTransport } from "./transport.js";

/** The generated client of every Baton service. */
export interface BatonServices {
  jobs: Client<typeof JobService>;
  queues: Client<typeof QueueService>;
  schedules: Client<typeof ScheduleService>;
  workers: Client<typeof WorkerService>;
}

/**
 * Every service over one connection, with the client's transport (keepalive, token, timeout):
 * for operators' tools, such as the `baton` CLI, that call RPCs without a helper.
 */
export function connectServices(options: ConnectionOptions): BatonServices {
  const transport = resolveTransport(options);
  return {
    jobs: createClient(JobService, transport),
    queues: createClient(QueueService, transport),
    schedules: createClient(ScheduleService, transport),
    workers: createClient(WorkerService, transport),
  };
}
