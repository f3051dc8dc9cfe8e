import { create } from "@bufbuild/protobuf";
import { durationFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  CancelJobResponseSchema,
  CancelJobsResponseSchema,
  DeleteJobsResponseSchema,
  GetJobResponseSchema,
  type Job,
  JobState,
  ListJobsResponseSchema,
  RetryJobResponseSchema,
  RetryJobsResponseSchema,
  type WaitJobResponse,
  WaitJobResponseSchema,
} from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { type Command, type CommandInput, RECORD_OUTPUTS, TABLE_OUTPUTS, jobIdArg } from "../args.js";
import type { BatonServices } from "../../../clients/ts/src/services.js";
import { CALL_TIMEOUT_MS, connect } from "../client.js";
import { formatDuration } from "../duration.js";
import { ExitCode } from "../errors.js";
import { FILTER_FLAGS, filterFromFlags, oneJobOrFilter } from "../job-filter-flags.js";
import {
  type Column,
  bytesText,
  details,
  durationText,
  fullTime,
  jobStateLabel,
  mapText,
  oneLine,
  orDash,
  relativeTime,
  stateName,
  table,
} from "../output.js";

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED]);

const JOB_COLUMNS: Column[] = [
  { header: "ID", align: "right" },
  { header: "QUEUE" },
  { header: "STATE" },
  { header: "ATTEMPTS", align: "right" },
  { header: "PRIORITY", align: "right" },
  { header: "CREATED" },
  { header: "RUN AT" },
  { header: "FINISHED" },
];

/** `-o wide`: where a job belongs and what holds it, which `jobs get` would otherwise be needed for. */
const WIDE_JOB_COLUMNS: Column[] = [
  { header: "CHAIN" },
  { header: "PARENT" },
  { header: "DEDUP KEY" },
  { header: "FAIRNESS KEY" },
  { header: "LEASE EXPIRES" },
  { header: "PROGRESS" },
];

/**
 * Jobs as a table: one row each, times relative to now. `wide` adds WIDE_JOB_COLUMNS and shows
 * more of the last error, which stays last because it is the longest.
 */
export function jobTable(jobs: Job[], { wide = false, now = Date.now() } = {}): string {
  return table(
    [...JOB_COLUMNS, ...(wide ? WIDE_JOB_COLUMNS : []), { header: "LAST ERROR" }],
    jobs.map((job) => [
      job.id,
      job.queue,
      jobStateLabel(job),
      `${job.attempt}/${job.maxAttempts}`,
      String(job.priority),
      relativeTime(job.createTime, now),
      relativeTime(job.runTime, now),
      relativeTime(job.finishTime, now),
      ...(wide ? wideJobCells(job, now) : []),
      oneLine(job.lastError, wide ? 200 : 50),
    ]),
  );
}

function wideJobCells(job: Job, now: number): string[] {
  return [
    orDash(job.chainId),
    orDash(job.parentId),
    orDash(job.dedupKey),
    orDash(job.fairnessKey),
    relativeTime(job.leaseExpireTime, now),
    job.progressPercent > 0 || job.progressMessage ? oneLine(`${job.progressPercent}% ${job.progressMessage}`, 40) : "-",
  ];
}

/** Everything about one job, for `jobs get` and `jobs wait`. */
export function jobDetails(job: Job, now = Date.now()): string {
  const rows: [string, string][] = [
    ["id", job.id],
    ["queue", job.queue],
    ["state", jobStateLabel(job)],
    ["attempts", `${job.attempt} of ${job.maxAttempts}`],
    ["priority", String(job.priority)],
    ["created", fullTime(job.createTime, now)],
    ["run at", fullTime(job.runTime, now)],
    ["finished", fullTime(job.finishTime, now)],
  ];
  if (job.leaseExpireTime) rows.push(["lease expires", fullTime(job.leaseExpireTime, now)]);
  rows.push(
    ["timeout", durationText(job.timeout, "queue default")],
    ["chain", orDash(job.chainId)],
    ["parent", orDash(job.parentId)],
    ["depends on", job.dependsOn.length > 0 ? job.dependsOn.join(", ") : "-"],
    ["dedup key", orDash(job.dedupKey)],
    ["fairness key", orDash(job.fairnessKey)],
    ["worker labels", mapText(job.workerLabels)],
    ["headers", mapText(job.headers)],
    ["progress", job.progressPercent > 0 || job.progressMessage ? `${job.progressPercent}% ${job.progressMessage}`.trim() : "-"],
    ["payload", bytesText(job.payload)],
    ["result", bytesText(job.result)],
    ["last error", orDash(job.lastError)],
  );
  if (job.errors.length > 0) {
    rows.push([
      "errors",
      job.errors.map((e) => `#${e.attempt} ${e.time ? new Date(timestampMs(e.time)).toISOString() : "-"} ${e.message}`).join("\n"),
    ]);
  }
  return details(rows);
}

const list: Command = {
  name: "jobs list",
  aliases: ["ls"],
  outputs: TABLE_OUTPUTS,
  summary: "List jobs, newest first, by queue, state, chain, ids, headers and creation time.",
  flags: {
    ...FILTER_FLAGS,
    limit: { type: "string", value: "<n>", description: "jobs per page, 1-1000 (default 100)" },
    "page-token": { type: "string", value: "<token>", description: "continue where a previous page ended" },
    all: { type: "boolean", description: "follow every page to the end (progress on stderr)" },
  },
  notes:
    "Without --all, one page is shown and the command to fetch the next one is printed on stderr.\n" +
    "A job is listed when it matches every filter flag given.",
  examples: [
    "baton jobs list --queue emails --state dead",
    "baton jobs list --chain 42 --all --json",
    "baton jobs ls --queue emails -o wide",
    "baton jobs list --header tenant=acme --state dead --state cancelled --created-after 2030-01-31T00:00:00Z",
  ],
  async run({ flags, url, document, wide, out }) {
    const request = {
      filter: filterFromFlags(flags),
      pageSize: flags.int("limit", { min: 1, max: 1000 }) ?? 0,
      pageToken: flags.string("page-token") ?? "",
    };
    const { jobs } = connect(url);
    const all = flags.bool("all");
    const collected: Job[] = [];
    let nextPageToken = request.pageToken;
    let pages = 0;
    do {
      const page = await jobs.listJobs({ ...request, pageToken: nextPageToken });
      collected.push(...page.jobs);
      nextPageToken = page.nextPageToken;
      pages++;
      if (all && nextPageToken !== "") out.progress(`baton jobs list: fetched ${collected.length} jobs (page ${pages})…`);
    } while (all && nextPageToken !== "");
    out.endProgress();

    if (document) {
      out.message(document, ListJobsResponseSchema, create(ListJobsResponseSchema, { jobs: collected, nextPageToken }));
      return ExitCode.ok;
    }
    if (collected.length === 0) out.note("no jobs");
    else out.print(jobTable(collected, { wide }));
    if (nextPageToken !== "") {
      out.note(`more jobs: add --page-token ${nextPageToken} for the next page, or --all for every page`);
    }
    return ExitCode.ok;
  },
};

const get: Command = {
  name: "jobs get",
  summary: "Show a job with its payload, result and error history.",
  positionals: [{ name: "id" }],
  flags: {},
  outputs: RECORD_OUTPUTS,
  examples: ["baton jobs get 42", "baton jobs get 42 --json | jq -r .job.state", "baton jobs get 42 -o yaml"],
  async run({ args, url, document, out }) {
    const response = await connect(url).jobs.getJob({ id: jobIdArg(args[0]!) });
    if (document) out.message(document, GetJobResponseSchema, response);
    else out.print(jobDetails(response.job!));
    return ExitCode.ok;
  },
};

const cancel: Command = {
  name: "jobs cancel",
  summary: "Cancel a job, or every unfinished job matching filter flags.",
  notes:
    "A waiting job becomes CANCELLED at once; the worker of a running job is asked to stop it.\n" +
    "With filter flags, the broker works through the matching jobs in transactions of 1000 and\n" +
    "reports how many it cancelled and how many running ones it asked to stop; running the same\n" +
    "command again changes nothing more.",
  positionals: [{ name: "id", optional: true }],
  flags: FILTER_FLAGS,
  outputs: TABLE_OUTPUTS,
  examples: ["baton jobs cancel 42", "baton jobs cancel --header batch=2030-01-31 --queue emails"],
  async run(input) {
    const { flags, url, document, wide, out } = input;
    const target = oneJobOrFilter(input, "cancel");
    if ("filter" in target) {
      const response = await connect(url).jobs.cancelJobs({ filter: filterFromFlags(flags) });
      if (document) out.message(document, CancelJobsResponseSchema, response);
      else out.print(`cancelled ${response.cancelled} waiting jobs; asked the workers of ${response.cancelRequested} running jobs to stop`);
      return ExitCode.ok;
    }
    const response = await connect(url).jobs.cancelJob({ id: target.id });
    if (document) {
      out.message(document, CancelJobResponseSchema, response);
      return ExitCode.ok;
    }
    const job = response.job!;
    out.print(jobTable([job], { wide }));
    if (job.state === JobState.LEASED) out.note(`job ${job.id} is running; its worker was asked to stop`);
    return ExitCode.ok;
  },
};

const RETRYABLE = [JobState.DEAD, JobState.CANCELLED];

const retry: Command = {
  name: "jobs retry",
  summary: "Retry a DEAD or CANCELLED job, or every one matching filter flags.",
  notes:
    "Each retried job gets a fresh attempt budget and becomes AVAILABLE, or BLOCKED while one of its\n" +
    "depends_on jobs has not succeeded. A job whose blocker no longer exists, or whose dedup_key an\n" +
    "unfinished job holds, is refused (with filter flags: skipped and listed, exit 0). With filter\n" +
    "flags and no --state, DEAD jobs are retried.",
  positionals: [{ name: "id", optional: true }],
  flags: FILTER_FLAGS,
  outputs: TABLE_OUTPUTS,
  examples: ["baton jobs retry 42", "baton jobs retry --queue emails --state dead", "baton jobs retry --header tenant=acme --state cancelled"],
  async run(input) {
    const target = oneJobOrFilter(input, "retry");
    return "id" in target ? retryOne(input, target.id) : retryMatching(input);
  },
};

async function retryOne({ url, document, wide, out }: CommandInput, id: string): Promise<number> {
  const response = await connect(url).jobs.retryJob({ id });
  if (document) out.message(document, RetryJobResponseSchema, response);
  else out.print(jobTable([response.job!], { wide }));
  return ExitCode.ok;
}

async function retryMatching({ flags, url, document, out }: CommandInput): Promise<number> {
  const filter = filterFromFlags(flags, RETRYABLE);
  if (filter.states!.length === 0) filter.states = [JobState.DEAD];
  const response = await connect(url).jobs.retryJobs({ filter });
  if (document) out.message(document, RetryJobsResponseSchema, response);
  else {
    out.print(`retried ${response.count} ${filter.states!.map(stateName).join(" or ")} jobs${filter.queue ? ` of queue ${filter.queue}` : ""}`);
    if (response.skipped.length > 0) {
      out.print(`skipped ${response.skipped.length}:\n${response.skipped.map((job) => `  job ${job.id}: ${job.reason}`).join("\n")}`);
    }
  }
  return ExitCode.ok;
}

const remove: Command = {
  name: "jobs delete",
  summary: "Delete a job, or every job matching filter flags; a running job is never deleted.",
  notes:
    "A LEASED job is running and is left alone (cancel it first); deleting one by <id> fails.\n" +
    "With filter flags, the broker works through the matching jobs in transactions of 1000 and\n" +
    "reports how many it deleted; running the same command again deletes nothing more.",
  positionals: [{ name: "id", optional: true }],
  flags: FILTER_FLAGS,
  outputs: RECORD_OUTPUTS,
  examples: ["baton jobs delete 42", "baton jobs delete --queue emails --state succeeded --created-before 2030-01-01T00:00:00Z"],
  async run(input) {
    const { flags, url, document, out } = input;
    const target = oneJobOrFilter(input, "delete");
    if ("id" in target) {
      await connect(url).jobs.deleteJob({ id: target.id });
      if (document) out.message(document, DeleteJobsResponseSchema, create(DeleteJobsResponseSchema, { count: 1n }));
      else out.print(`deleted job ${target.id}`);
      return ExitCode.ok;
    }
    const response = await connect(url).jobs.deleteJobs({ filter: filterFromFlags(flags) });
    if (document) out.message(document, DeleteJobsResponseSchema, response);
    else out.print(`deleted ${response.count} jobs`);
    return ExitCode.ok;
  },
};

/**
 * Each WaitJob call waits at most this long, so a long wait reports progress between calls.
 * A job that finishes mid-call is answered at once, so nothing is lost between calls.
 */
const WAIT_SLICE_MS = 10_000;

const wait: Command = {
  name: "jobs wait",
  summary: "Wait for a job to finish and show it with its result.",
  positionals: [{ name: "id" }],
  flags: {
    timeout: {
      type: "string",
      value: "<duration>",
      description: "give up after this long (exit 3); default: wait until the job finishes; 0s checks once",
    },
    chain: {
      type: "boolean",
      description: "wait until every job of the job's chain (a DAG enqueued in one call, continuations) has finished, and show them all",
    },
  },
  notes:
    "A job finishes SUCCEEDED (exit 0), DEAD or CANCELLED (exit 5). While waiting, its state, attempt\n" +
    "and progress are reported on stderr. With --chain, the chain's jobs are listed once all have\n" +
    "finished (newest first; --json adds chain_jobs), exit 5 if one of them did not succeed.",
  outputs: RECORD_OUTPUTS,
  examples: [
    "baton jobs wait 42 --timeout 5m",
    "baton jobs wait 42 --json | jq -r .job.result | base64 -d",
    "baton jobs wait 42 --chain --json | jq -r '.chainJobs[] | [.id, .state] | @tsv'",
  ],
  async run(input) {
    if (input.flags.bool("chain")) return waitChain(input);
    const { args, flags, url, document, out } = input;
    const id = jobIdArg(args[0]!);
    const timeoutMs = flags.durationMs("timeout");
    const { jobs } = connect(url);
    const started = Date.now();
    const deadline = timeoutMs === undefined ? Infinity : started + timeoutMs;
    let job: Job;
    if (timeoutMs === 0) {
      job = (await jobs.getJob({ id })).job!;
    } else {
      out.progress(`baton jobs wait: waiting for job ${id}…`);
      for (;;) {
        const slice = Math.max(1, Math.min(WAIT_SLICE_MS, deadline - Date.now()));
        const callStart = Date.now();
        const response = await jobs.waitJob({ id, timeout: durationFromMs(slice) }, { timeoutMs: slice + CALL_TIMEOUT_MS });
        job = response.job!;
        if (TERMINAL.has(job.state) || Date.now() >= deadline) break;
        out.progress(`baton jobs wait: job ${id} is ${waitStatus(job)} (${formatDuration(Date.now() - started)})`);
        // A broker that answers at once without waiting must not be hammered.
        const early = 500 - (Date.now() - callStart);
        if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
      }
    }
    out.endProgress();
    const finished = TERMINAL.has(job.state);
    if (document) out.message(document, WaitJobResponseSchema, create(WaitJobResponseSchema, { job, timedOut: !finished }));
    else out.print(jobDetails(job));
    if (!finished) {
      out.note(`baton jobs wait: timed out after ${formatDuration(Date.now() - started)}; job ${id} is ${waitStatus(job)}`);
      return ExitCode.timedOut;
    }
    if (job.state !== JobState.SUCCEEDED) {
      const reason = job.lastError ? `: ${oneLine(job.lastError, 200)}` : "";
      out.note(`baton jobs wait: job ${id} finished ${stateName(job.state)}${reason}`);
      return ExitCode.jobFailed;
    }
    return ExitCode.ok;
  },
};

/** `jobs wait --chain`: WaitJob{chain} in slices until every job of the chain has finished. */
async function waitChain({ args, flags, url, document, out }: CommandInput): Promise<number> {
  const id = jobIdArg(args[0]!);
  const timeoutMs = flags.durationMs("timeout");
  const { jobs } = connect(url);
  const started = Date.now();
  const deadline = timeoutMs === undefined ? Infinity : started + timeoutMs;
  out.progress(`baton jobs wait: waiting for the chain of job ${id}…`);
  let response;
  for (;;) {
    const slice = Math.max(0, Math.min(WAIT_SLICE_MS, deadline - Date.now()));
    response = await jobs.waitJob({ id, chain: true, timeout: durationFromMs(slice) }, { timeoutMs: slice + CALL_TIMEOUT_MS });
    if (!response.timedOut || Date.now() >= deadline) break;
    const unfinished = response.chainJobs.filter((job) => !TERMINAL.has(job.state)).length;
    out.progress(`baton jobs wait: ${unfinished} jobs of the chain unfinished (${formatDuration(Date.now() - started)})`);
  }
  out.endProgress();
  if (document) out.message(document, WaitJobResponseSchema, response);
  else out.print(jobTable(response.chainJobs));
  if (response.chainNextPageToken !== "") out.note(`the chain has more jobs: baton jobs list --chain ${response.job!.chainId} --all`);
  if (response.timedOut) {
    out.note(`baton jobs wait: timed out after ${formatDuration(Date.now() - started)}; the chain of job ${id} is unfinished`);
    return ExitCode.timedOut;
  }
  const failed = await chainFailure(jobs, response);
  if (failed) {
    out.note(`baton jobs wait: not every job of the chain succeeded (job ${failed.id} is ${stateName(failed.state)})`);
    return ExitCode.jobFailed;
  }
  return ExitCode.ok;
}

/**
 * A job of a finished chain that did not succeed, if any: from the answer's page, or, for a
 * chain longer than that page, by a search of the whole chain for its DEAD and CANCELLED jobs.
 */
async function chainFailure(jobs: BatonServices["jobs"], response: WaitJobResponse): Promise<Job | undefined> {
  const onPage = response.chainJobs.find((job) => job.state !== JobState.SUCCEEDED);
  if (onPage || response.chainNextPageToken === "") return onPage;
  const filter = { chainId: response.job!.chainId, states: [JobState.DEAD, JobState.CANCELLED] };
  return (await jobs.listJobs({ filter, pageSize: 1 })).jobs[0];
}

function waitStatus(job: Job): string {
  const parts = [jobStateLabel(job), `attempt ${job.attempt}/${job.maxAttempts}`];
  if (job.progressPercent > 0 || job.progressMessage) parts.push(`${job.progressPercent}% ${job.progressMessage}`.trim());
  return parts.join(", ");
}

export const jobCommands: Command[] = [list, get, cancel, retry, remove, wait];
