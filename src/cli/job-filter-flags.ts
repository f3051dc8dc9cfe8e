import type { MessageInitShape } from "@bufbuild/protobuf";
import type { JobFilterSchema, JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { type CommandInput, type FlagSpec, type Flags, STATE_NAMES, jobIdArg } from "./args.js";
import { UsageError } from "./errors.js";

export type JobFilterInit = MessageInitShape<typeof JobFilterSchema>;

/** The flags that build a JobFilter: `jobs list`, and the bulk forms of cancel, retry and delete. */
export const FILTER_FLAGS: Record<string, FlagSpec> = {
  queue: { type: "string", value: "<queue>", description: "only jobs of this queue" },
  state: {
    type: "string",
    value: "<state>",
    multiple: true,
    description: `only jobs in this state (${STATE_NAMES.join(", ")}); repeat for any of several`,
    choices: STATE_NAMES,
  },
  chain: { type: "string", value: "<id>", description: "only jobs of the chain rooted at this job" },
  id: { type: "string", value: "<id>", multiple: true, description: "only this job; repeat for several (at most 1000)" },
  header: { type: "string", value: "<key=value>", multiple: true, description: "only jobs with this header value; repeat: all must match" },
  "created-after": { type: "string", value: "<time>", description: "only jobs created at or after this ISO 8601 time" },
  "created-before": { type: "string", value: "<time>", description: "only jobs created before this ISO 8601 time" },
};

/** The filter the flags describe; `states` are used when no --state is given. */
export function filterFromFlags(flags: Flags, allowedStates?: JobState[]): JobFilterInit {
  const chain = flags.string("chain");
  return {
    queue: flags.string("queue") ?? "",
    states: flags.states("state", allowedStates),
    chainId: chain === undefined ? "" : jobIdArg(chain),
    ids: flags.list("id").map(jobIdArg),
    headers: flags.pairs("header"),
    createTimeAfter: flags.timestamp("created-after"),
    createTimeBefore: flags.timestamp("created-before"),
  };
}

/** Whether any filter flag was given. */
export function hasFilterFlags(flags: Flags): boolean {
  return flags.count(...Object.keys(FILTER_FLAGS)) > 0;
}

/**
 * What a command that takes one job or a filter (`jobs cancel|retry|delete`) was given: the id,
 * or the filter flags. `verb` names the action in the usage errors.
 */
export function oneJobOrFilter({ args, flags }: CommandInput, verb: string): { id: string } | { filter: true } {
  const filtered = hasFilterFlags(flags);
  if (args.length > 0 && filtered) throw new UsageError(`give either a job <id> or filter flags, not both`);
  if (args.length > 0) return { id: jobIdArg(args[0]!) };
  if (!filtered) throw new UsageError(`give a job <id>, or filter flags (--queue, --state, --header, …) to ${verb} every job they match`);
  return { filter: true };
}
