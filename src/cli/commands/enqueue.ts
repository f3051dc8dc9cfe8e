import { type MessageInitShape } from "@bufbuild/protobuf";
import { EnqueueJobRequestSchema, EnqueueJobResponseSchema } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { type Command, TABLE_OUTPUTS } from "../args.js";
import { connect } from "../client.js";
import { ExitCode, UsageError } from "../errors.js";
import { PAYLOAD_FLAGS, payloadFromFlags } from "../payload.js";
import { jobTable } from "./jobs.js";

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
    "fairness-key": { type: "string", value: "<key>", description: "group (e.g. tenant) for the queue's per-key limit" },
    timeout: { type: "string", value: "<duration>", description: "longest one attempt may run (default: the queue's)" },
    header: { type: "string", value: "<key=value>", multiple: true, description: "a header for the job; repeat for more" },
  },
  outputs: TABLE_OUTPUTS,
  notes: "The job is printed on stdout; a deduplicated enqueue says so on stderr.",
  examples: [
    `baton enqueue emails --json-payload '{"to":"bob@example.com"}' --priority -1`,
    "baton enqueue reports --payload-file report.csv --delay 5m --header tenant=acme",
  ],
  async run({ args, flags, url, document, wide, out }) {
    if (flags.has("delay") && flags.has("run-at")) throw new UsageError("give at most one of --delay and --run-at");
    if (flags.has("dedup-window") && !flags.has("dedup-key")) throw new UsageError("--dedup-window needs --dedup-key");
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
      fairnessKey: flags.string("fairness-key") ?? "",
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
    if (response.deduplicated) out.note(`deduplicated: job ${response.job!.id} already had dedup key "${request.dedupKey}"`);
    return ExitCode.ok;
  },
};

export const enqueueCommands: Command[] = [enqueue];
