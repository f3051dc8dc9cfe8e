import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import { JobService } from "../gen/baton/v1/job_service_pb.js";
import { QueueService } from "../gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../gen/baton/v1/schedule_service_pb.js";
import { WorkerService } from "../gen/baton/v1/worker_service_pb.js";
import type { TokenRole } from "../store/tokens.js";

/**
 * Who may call what. A token's role decides the RPCs it may call, its queue patterns the
 * queues it may touch:
 * - producer: JobService on its queues (enqueue, get, wait, list, cancel, retry one job);
 * - worker: Subscribe to its queues, and ListWorkers;
 * - admin: everything (queues, schedules, RetryJobs, …), still on its queues.
 * An RPC that spans every queue (ListQueues, ListSchedules, ListJobs without a queue) needs
 * the pattern '*'. An RPC missing from the table below is admin-only and needs '*', so a new
 * RPC is closed until someone decides who may call it.
 */

/** One queue a request touches, and how to name it in an error. */
export interface QueueRef {
  queue: string;
  /** "jobs[2].queue", "job 42's queue", … */
  field: string;
}

/** The queues a request touches: some by name, every queue ("all"), or none to check. */
export type Scope = QueueRef[] | "all";

/** Reads what a request alone does not say: the queue of a job or schedule named by id. */
export interface ScopeLookups {
  jobQueue(id: string): Promise<string | undefined>;
  scheduleQueue(name: string): Promise<string | undefined>;
}

export interface Rule {
  /** Roles allowed besides admin, which may call everything. */
  roles: readonly TokenRole[];
  scope(message: unknown, lookups: ScopeLookups): Scope | Promise<Scope>;
}

const named = (queue: string, field: string): QueueRef[] => (queue === "" ? [] : [{ queue, field }]);

async function jobScope(lookups: ScopeLookups, id: string): Promise<Scope> {
  // A malformed or unknown id has no queue to check; the handler answers it.
  if (!/^[1-9][0-9]{0,18}$/.test(id)) return [];
  const queue = await lookups.jobQueue(id).catch(() => undefined);
  return queue === undefined ? [] : [{ queue, field: `job ${id}'s queue` }];
}

function on<I extends DescMessage>(
  method: DescMethod & { input: I },
  roles: readonly TokenRole[],
  scope: (message: MessageShape<I>, lookups: ScopeLookups) => Scope | Promise<Scope>,
): [string, Rule] {
  return [methodKey(method), { roles, scope: scope as Rule["scope"] }];
}

const producer = ["producer"] as const;
const worker = ["worker"] as const;
const admin = [] as const;
const jobs = JobService.method;
const queues = QueueService.method;
const schedules = ScheduleService.method;

const rules = new Map<string, Rule>([
  on(jobs.enqueueJob, producer, (m) => named(m.queue, "queue")),
  on(jobs.enqueueJobs, producer, (m) => m.jobs.flatMap((job, i) => named(job.queue, `jobs[${i}].queue`))),
  on(jobs.getJob, producer, (m, look) => jobScope(look, m.id)),
  on(jobs.waitJob, producer, (m, look) => jobScope(look, m.id)),
  on(jobs.cancelJob, producer, (m, look) => jobScope(look, m.id)),
  on(jobs.retryJob, producer, (m, look) => jobScope(look, m.id)),
  on(jobs.listJobs, producer, (m) => (m.queue === "" ? "all" : named(m.queue, "queue"))),
  on(jobs.retryJobs, admin, (m) => named(m.queue, "queue")),
  // The queues of a stream are those of its hello, checked when it arrives (see auth.ts).
  on(WorkerService.method.subscribe, worker, () => []),
  on(WorkerService.method.listWorkers, worker, (m) => named(m.queue, "queue")),
  on(queues.listQueues, admin, () => "all"),
  on(queues.getQueue, admin, (m) => named(m.queue, "queue")),
  on(queues.updateQueue, admin, (m) => named(m.queue, "queue")),
  on(queues.pauseQueue, admin, (m) => named(m.queue, "queue")),
  on(queues.resumeQueue, admin, (m) => named(m.queue, "queue")),
  on(schedules.createSchedule, admin, (m) => named(m.schedule?.queue ?? "", "schedule.queue")),
  on(schedules.listSchedules, admin, () => "all"),
  on(schedules.deleteSchedule, admin, async (m, look) => {
    const queue = await look.scheduleQueue(m.name).catch(() => undefined);
    return queue === undefined ? [] : [{ queue, field: `schedule "${m.name}"'s queue` }];
  }),
]);

const closedRule: Rule = { roles: admin, scope: () => "all" };

export function methodKey(method: DescMethod): string {
  return `${method.parent.typeName}/${method.name}`;
}

export function ruleOf(method: DescMethod): Rule {
  return rules.get(methodKey(method)) ?? closedRule;
}

export function roleAllows(rule: Rule, role: TokenRole): boolean {
  return role === "admin" || rule.roles.includes(role);
}

/** "producer or admin", for errors. */
export function rolesText(rule: Rule): string {
  return [...rule.roles, "admin"].join(" or ");
}
