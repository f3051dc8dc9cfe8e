import { type MessageInitShape } from "@bufbuild/protobuf";
import { DedupPolicy, EnqueueJobRequestSchema, EnqueueJobResponseSchema, type Job, JobState } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { type Command, TABLE_OUTPUTS } from "../args.js";
import { connect } from "../client.js";
import { ExitCode, UsageError } from "../errors.js";
import { PAYLOAD_FLAGS, payloadFromFlags } from "../payload.js";
import { jobTable } from "./jobs.js";

/** --dedup-policy's values, as the DedupPolicy they send. */
const DEDUP_POLICIES = { keep: DedupPolicy.KEEP, replace: DedupPolicy.REPLACE, debounce: DedupPolicy.DEBOUNCE } as const;
const DEDUP_POLICY_NAMES = Object.keys(DEDUP_POLICIES) as (keyof typeof DEDUP_POLICIES)[];

function dedupPolicyFrom(text: string | undefined): DedupPolicy {
  if (text === undefined) return DedupPolicy.UNSPECIFIED;
  if (!Object.hasOwn(DEDUP_POLICIES, text)) throw new UsageError(`--dedup-policy must be one of ${DEDUP_POLICY_NAMES.join(", ")}, got "${text}"`);
  return DEDUP_POLICIES[text as keyof typeof DEDUP_POLICIES];
}

const enqueue: Command = {
  name: "enqueue",
  summary: "Create a job on a queue.",
  positionals: [{ name: "queue" }],
  flags: {
    ...PAYLOAD_FLAGS,
    priority: { type: "string", value: "<n>", description: "lower runs first (default 0; negative numbers allowed)" },
    delay: { type: "string", value: "<duration>", description: "run no sooner than this long from now" },
    "run-at": { type: "string", value: "<time>", description: "run no sooner than this ISO 8601 time (instead of --delay)" },
    "max-attempts": { type: "string", value: "<n>", description: "attempts before the job is DEAD (default: the queue's)" },
    "dedup-key": { type: "string", value: "<key>", description: "return the unfinished job with this key instead of a new one" },
    "dedup-window": {
      type: "string",
      value: "<duration>",
      description: "with --dedup-key: also return a job with the key that finished this recently",
    },
    "dedup-policy": {
      type: "string",
      value: "<policy>",
      description: "with --dedup-key, what to do to a waiting job with the key: keep (default), replace (payload and run time) or debounce (run time)",
      choices: DEDUP_POLICY_NAMES,
    },
    "fairness-key": { type: "string", value: "<key>", description: "group (e.g. tenant) for the queue's per-key limit" },
    timeout: { type: "string", value: "<duration>", description: "longest one attempt may run (default: the queue's)" },
    header: { type: "string", value: "<key=value>", multiple: true, description: "a header for the job; repeat for more" },
    "worker-label": {
      type: "string",
      value: "<key=value>",
      multiple: true,
      description: "run only on a worker with this label; repeat for more (all must match)",
    },
  },
  outputs: TABLE_OUTPUTS,
  notes: "The job is printed on stdout; a deduplicated enqueue says so on stderr.",
  examples: [
    `baton enqueue emails --json-payload '{"to":"bob@example.com"}' --priority -1`,
    "baton enqueue reports --payload-file report.csv --delay 5m --header tenant=acme",
    "baton enqueue reindex --dedup-key shop-42 --dedup-policy debounce --delay 30s",
    "baton enqueue render --json-payload '{\"scene\":7}' --worker-label gpu=a100",
  ],
  async run({ args, flags, url, document, wide, out }) {
    if (flags.has("delay") && flags.has("run-at")) throw new UsageError("give at most one of --delay and --run-at");
    for (const flag of ["dedup-window", "dedup-policy"]) {
      if (flags.has(flag) && !flags.has("dedup-key")) throw new UsageError(`--${flag} needs --dedup-key`);
    }
    const delay = flags.duration("delay");
    const runTime = flags.timestamp("run-at");
    const timeout = flags.duration("timeout");
    const dedupWindow = flags.duration("dedup-window");
    const request: MessageInitShape<typeof EnqueueJobRequestSchema> = {
      queue: args[0]!,
      payload: payloadFromFlags(flags),
      headers: flags.pairs("header"),
      priority: flags.int("priority") ?? 0,
      maxAttempts: flags.int("max-attempts", { min: 1 }) ?? 0,
      dedupKey: flags.string("dedup-key") ?? "",
      dedupPolicy: dedupPolicyFrom(flags.string("dedup-policy")),
      fairnessKey: flags.string("fairness-key") ?? "",
      workerLabels: flags.pairs("worker-label"),
      ...(delay && { start: { case: "delay", value: delay } }),
      ...(runTime && { start: { case: "runTime", value: runTime } }),
      ...(timeout && { timeout }),
      ...(dedupWindow && { dedupWindow }),
    };
    const response = await connect(url).jobs.enqueueJob(request);
    if (document) {
      out.message(document, EnqueueJobResponseSchema, response);
      return ExitCode.ok;
    }
    out.print(jobTable([response.job!], { wide }));
    if (response.deduplicated) out.note(deduplicatedNote(response.job!, request.dedupPolicy!));
    return ExitCode.ok;
  },
};

/** What a deduplicated enqueue did to the job that had its key. */
function deduplicatedNote(job: Job, policy: DedupPolicy): string {
  const had = `job ${job.id} already had dedup key "${job.dedupKey}"`;
  if (policy !== DedupPolicy.REPLACE && policy !== DedupPolicy.DEBOUNCE) return `deduplicated: ${had}`;
  // Only a waiting job takes the request's payload or run time; a running or finished one stays.
  const waiting = [JobState.AVAILABLE, JobState.SCHEDULED, JobState.BLOCKED].includes(job.state);
  if (!waiting) return `deduplicated: ${had} and is ${JobState[job.state].toLowerCase()}; it was not changed`;
  return `deduplicated: ${had}; it took this ${policy === DedupPolicy.REPLACE ? "payload and run time" : "run time"}`;
}

export const enqueueCommands: Command[] = [enqueue];
