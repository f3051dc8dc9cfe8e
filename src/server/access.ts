import type { DescMessage, DescMethod, MessageShape } from "@bufbuild/protobuf";
import type { EnqueueJobRequest } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { QueueService } from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { TokenService } from "../../clients/ts/src/gen/baton/v1/token_service_pb.js";
import { WorkerService } from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import type { TokenRole } from "../store/token-role.js";

/**
 * Who may call what. A token's role decides the RPCs it may call, its queue patterns the
 * queues it may touch:
 * - producer: JobService on its queues (enqueue, get, wait, list, cancel, retry, delete one job);
 * - worker: Subscribe to its queues, and ListWorkers;
 * - viewer: every read (jobs, queues, schedules, workers: the whole dashboard), no change;
 * - admin: everything (queues, schedules, the bulk CancelJobs, RetryJobs, DeleteJobs, …), still
 *   on its queues.
 * An RPC that spans every queue (ListQueues, ListSchedules, ListJobs or a bulk operation whose
 * filter names no queue) needs
 * the pattern '*'. Every job a request names by id (the job itself, a chain_id, a depends_on,
 * a resumed lease) must be on the token's queues; see JobRef. An RPC missing from the table below is admin-only and needs '*', so a new
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

/**
 * A job a request names by id. A job outside the token's queues is answered as if it did not
 * exist (NOT_FOUND, the handler's words for an unknown id), so that a token cannot learn what
 * other tenants' queues hold. The queues of all the jobs of one request are read at once.
 */
export interface JobRef {
  id: string;
  /** The field naming it ("jobs[1].depends_on[0]"); undefined for the job the RPC is about. */
  field?: string;
}

/** Reads what a request alone does not say: the queue of a schedule named by name. */
export interface ScopeLookups {
  scheduleQueue(name: string): Promise<string | undefined>;
}

export interface Rule {
  /** Roles allowed besides admin, which may call everything. */
  roles: readonly TokenRole[];
  scope(message: unknown, lookups: ScopeLookups): Scope | Promise<Scope>;
  /** The jobs the request names by id. */
  jobs(message: unknown): JobRef[];
}

const named = (queue: string, field: string): QueueRef[] => (queue === "" ? [] : [{ queue, field }]);

/** The jobs an enqueue joins (chain_id) or waits for (depends_on). */
export function enqueueJobRefs(job: EnqueueJobRequest, at: string): JobRef[] {
  const field = (name: string) => (at === "" ? name : `${at}.${name}`);
  return [
    ...job.dependsOn.map((id, i) => ({ id, field: `${field("depends_on")}[${i}]` })),
    ...(job.chainId === "" ? [] : [{ id: job.chainId, field: field("chain_id") }]),
  ];
}

const target = (m: { id: string }): JobRef[] => [{ id: m.id }];

/** A request that picks jobs by filter touches its queue, or every queue when it names none. */
const filtered = (queue: string, field: string): Scope => (queue === "" ? "all" : named(queue, field));

function on<I extends DescMessage>(
  method: DescMethod & { input: I },
  roles: readonly TokenRole[],
  scope: (message: MessageShape<I>, lookups: ScopeLookups) => Scope | Promise<Scope>,
  jobs: (message: MessageShape<I>) => JobRef[] = () => [],
): [string, Rule] {
  return [methodKey(method), { roles, scope, jobs }];
}

const producer = ["producer"] as const;
const worker = ["worker"] as const;
const viewer = ["viewer"] as const;
/** A read of jobs: producers see the jobs of their queues, viewers those of theirs. */
const jobReader = ["producer", "viewer"] as const;
const admin = [] as const;
const jobs = JobService.method;
const queues = QueueService.method;
const schedules = ScheduleService.method;

const rules = new Map<string, Rule>([
  on(jobs.enqueueJob, producer, (m) => named(m.queue, "queue"), (m) => enqueueJobRefs(m, "")),
  on(
    jobs.enqueueJobs,
    producer,
    (m) => m.jobs.flatMap((job, i) => named(job.queue, `jobs[${i}].queue`)),
    (m) => m.jobs.flatMap((job, i) => enqueueJobRefs(job, `jobs[${i}]`)),
  ),
  // Each batch is checked as an EnqueueJobs call when it arrives (see auth.ts).
  on(jobs.enqueueJobsStream, producer, () => []),
  on(jobs.getJob, jobReader, () => [], target),
  on(jobs.waitJob, jobReader, () => [], target),
  on(jobs.cancelJob, producer, () => [], target),
  on(jobs.retryJob, producer, () => [], target),
  on(jobs.deleteJob, producer, () => [], target),
  // ListJobs takes its queue as queue or filter.queue, never both.
  on(jobs.listJobs, jobReader, (m) => (m.queue !== "" ? named(m.queue, "queue") : filtered(m.filter?.queue ?? "", "filter.queue"))),
  on(jobs.retryJobs, admin, (m) => (m.filter ? filtered(m.filter.queue, "filter.queue") : named(m.queue, "queue"))),
  on(jobs.cancelJobs, admin, (m) => filtered(m.filter?.queue ?? "", "filter.queue")),
  on(jobs.deleteJobs, admin, (m) => filtered(m.filter?.queue ?? "", "filter.queue")),
  // The queues of a stream are those of its hello, checked when it arrives (see auth.ts).
  on(WorkerService.method.subscribe, worker, () => []),
  // Without a queue, it lists only the workers (and queues) the token may see: api/visibility.ts.
  on(WorkerService.method.listWorkers, ["worker", "viewer"], (m) => named(m.queue, "queue")),
  on(queues.listQueues, viewer, () => "all"),
  on(queues.getQueue, viewer, (m) => named(m.queue, "queue")),
  // Without a queue, the history of every queue together.
  on(queues.getQueueHistory, viewer, (m) => filtered(m.queue, "queue")),
  on(queues.updateQueue, admin, (m) => named(m.queue, "queue")),
  on(queues.pauseQueue, admin, (m) => named(m.queue, "queue")),
  on(queues.resumeQueue, admin, (m) => named(m.queue, "queue")),
  on(schedules.createSchedule, admin, (m) => named(m.schedule?.queue ?? "", "schedule.queue")),
  on(schedules.listSchedules, viewer, () => "all"),
  on(schedules.deleteSchedule, admin, (m, look) => scheduleQueueOf(m.name, look)),
  // Both the queue the schedule fires into now and the one it is moved to.
  on(schedules.updateSchedule, admin, async (m, look) => [
    ...(await scheduleQueueOf(m.schedule?.name ?? "", look)),
    ...named(m.schedule?.queue ?? "", "schedule.queue"),
  ]),
  on(schedules.pauseSchedule, admin, (m, look) => scheduleQueueOf(m.name, look)),
  on(schedules.resumeSchedule, admin, (m, look) => scheduleQueueOf(m.name, look)),
  on(schedules.triggerSchedule, admin, (m, look) => scheduleQueueOf(m.name, look)),
  // Every token may learn its own name, role and queues.
  on(TokenService.method.getCurrentToken, ["producer", "worker", "viewer"], () => []),
]);

/** The queue of the schedule a request names; none to check when it does not exist (the handler says NOT_FOUND). */
async function scheduleQueueOf(name: string, look: ScopeLookups): Promise<QueueRef[]> {
  const queue = await look.scheduleQueue(name).catch(() => undefined);
  return queue === undefined ? [] : [{ queue, field: `schedule "${name}"'s queue` }];
}

const closedRule: Rule = { roles: admin, scope: () => "all", jobs: () => [] };

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
