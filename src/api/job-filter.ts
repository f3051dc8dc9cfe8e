import { type JobFilter, JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { invalidArgument } from "../errors.js";
import type { JobSearch, SearchState } from "../store/jobs.js";
import { type EnqueueLimits, timestampToDate, validateHeaders, validateJobId, validateQueueName } from "./validate.js";

/** Most ids one JobFilter may name: they go to the database as one array. */
export const MAX_FILTER_IDS = 1000;

/** What a filter is for: a list reads any job, each bulk operation changes only some states. */
export type FilterUse = "ListJobs" | "CancelJobs" | "RetryJobs" | "DeleteJobs";

const searchStates: Partial<Record<JobState, SearchState>> = {
  [JobState.SCHEDULED]: "scheduled",
  [JobState.AVAILABLE]: "available",
  [JobState.BLOCKED]: "blocked",
  [JobState.LEASED]: "leased",
  [JobState.SUCCEEDED]: "succeeded",
  [JobState.DEAD]: "dead",
  [JobState.CANCELLED]: "cancelled",
};

const EVERY_STATE = Object.values(searchStates);

/** The states each use may touch, and why a filter naming another is refused. */
const usable: Record<FilterUse, { states: SearchState[]; otherwise: string }> = {
  ListJobs: { states: EVERY_STATE, otherwise: "" },
  CancelJobs: { states: ["scheduled", "available", "blocked", "leased"], otherwise: "a finished job cannot be cancelled" },
  RetryJobs: { states: ["dead", "cancelled"], otherwise: "only dead or cancelled jobs can be retried" },
  DeleteJobs: { states: EVERY_STATE.filter((state) => state !== "leased"), otherwise: "a leased job is running and is never deleted; cancel it first" },
};

/** A job state as the proto names it, for errors: JOB_STATE_LEASED. */
function stateName(state: JobState): string {
  return JobState[state] === undefined ? String(state) : `JOB_STATE_${JobState[state]}`;
}

/** One state of a request as a store state, or INVALID_ARGUMENT naming `field`. */
export function searchState(state: JobState, field: string): SearchState {
  const stored = searchStates[state];
  if (stored === undefined) throw invalidArgument(`${field} ${stateName(state)} is not a job state`);
  return stored;
}

/**
 * A JobFilter as the store searches it, every field checked. For a bulk operation the filter
 * must set at least one field (an empty one would touch every job: naming the states is how to
 * mean that), and its states must be ones the operation changes; without states it matches
 * the states the operation changes.
 */
export function validateJobFilter(filter: JobFilter | undefined, limits: EnqueueLimits, use: FilterUse, field = "filter"): JobSearch {
  const search: JobSearch = {};
  if (!filter || isEmpty(filter)) {
    if (use !== "ListJobs") throw invalidArgument(`${field} must set at least one field; to mean every job, name the states in ${field}.states`);
    return search;
  }
  if (filter.queue !== "") search.queue = validateQueueName(filter.queue, `${field}.queue`);
  const { states, otherwise } = usable[use];
  if (filter.states.length > 0) {
    const named = filter.states.map((state, i) => searchState(state, `${field}.states[${i}]`));
    named.forEach((state, i) => {
      if (!states.includes(state)) throw invalidArgument(`${field}.states[${i}] is ${stateName(filter.states[i]!)}: ${otherwise}`);
    });
    search.states = [...new Set(named)];
  } else if (use !== "ListJobs") {
    search.states = states;
  }
  if (filter.chainId !== "") search.chainId = validateJobId(filter.chainId, `${field}.chain_id`);
  if (filter.ids.length > MAX_FILTER_IDS) throw invalidArgument(`${field}.ids has ${filter.ids.length} entries; the limit is ${MAX_FILTER_IDS}`);
  if (filter.ids.length > 0) search.ids = filter.ids.map((id, i) => validateJobId(id, `${field}.ids[${i}]`));
  if (Object.keys(filter.headers).length > 0) {
    validateHeaders(filter.headers, limits, `${field}.headers`);
    search.headers = filter.headers;
  }
  if (filter.createTimeAfter) search.createdAfter = timestampToDate(filter.createTimeAfter, `${field}.create_time_after`);
  if (filter.createTimeBefore) search.createdBefore = timestampToDate(filter.createTimeBefore, `${field}.create_time_before`);
  if (search.createdAfter && search.createdBefore && search.createdAfter >= search.createdBefore) {
    throw invalidArgument(
      `${field}.create_time_after (${search.createdAfter.toISOString()}) must be before ${field}.create_time_before (${search.createdBefore.toISOString()})`,
    );
  }
  return search;
}

function isEmpty(filter: JobFilter): boolean {
  return (
    filter.queue === "" &&
    filter.states.length === 0 &&
    filter.chainId === "" &&
    filter.ids.length === 0 &&
    Object.keys(filter.headers).length === 0 &&
    !filter.createTimeAfter &&
    !filter.createTimeBefore
  );
}
