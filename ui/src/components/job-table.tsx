import type { ComponentChildren } from "preact";
import type { Job } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { JobState } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { formatRelative, formatTime, previewBytes } from "../format.js";
import { href } from "../router.js";
import { Progress, StateBadge } from "./common.js";

/** The job list shared by the jobs and dead-letter views; `action` adds a last column. */
export function JobTable(props: { jobs: Job[]; action?: (job: Job) => ComponentChildren }) {
  const now = Date.now();
  return (
    <div class="table-wrap">
      <table class="jobs">
        <thead>
          <tr>
            <th class="num">ID</th>
            <th>Queue</th>
            <th>State</th>
            <th class="num">Attempt</th>
            <th class="num">Priority</th>
            <th>Created</th>
            <th>Runs / finished</th>
            <th>Payload</th>
            <th>Progress / last error</th>
            {props.action ? <th /> : null}
          </tr>
        </thead>
        <tbody>
          {props.jobs.map((job) => (
            <tr key={job.id} data-job-id={job.id} data-state={JobState[job.state]}>
              <td class="num">
                <a href={href(`jobs/${job.id}`)}>{job.id}</a>
              </td>
              <td>{job.queue}</td>
              <td>
                <StateBadge job={job} />
              </td>
              <td class="num">
                {job.attempt}/{job.maxAttempts}
              </td>
              <td class="num">{job.priority}</td>
              <td title={formatTime(job.createTime)}>{formatRelative(job.createTime, now)}</td>
              <td title={formatTime(job.finishTime ?? job.runTime)}>{formatRelative(job.finishTime ?? job.runTime, now)}</td>
              <td class="mono preview">{previewBytes(job.payload, 48)}</td>
              <td class="detail">
                {job.state === JobState.LEASED && (job.progressPercent > 0 || job.progressMessage) ? (
                  <Progress percent={job.progressPercent} message={job.progressMessage} />
                ) : job.lastError ? (
                  <span class="error-text" title={job.lastError}>
                    {job.lastError}
                  </span>
                ) : null}
              </td>
              {props.action ? <td class="actions">{props.action(job)}</td> : null}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Previous / next over ListJobs page tokens: the stack holds the tokens of earlier pages. */
/** Where a paged list is, and how to move (what usePages returns). */
export interface PageCursor {
  page: number;
  next: (token: string) => void;
  previous: () => void;
  first: () => void;
}

/** `nextPageToken` is the shown page's; empty or absent (while it loads) means no older page. */
export function Pager(props: { pages: PageCursor; nextPageToken: string | undefined }) {
  const { pages, nextPageToken = "" } = props;
  return (
    <nav class="pager" aria-label="pages">
      <button type="button" disabled={pages.page <= 1} onClick={pages.first}>
        « Newest
      </button>
      <button type="button" disabled={pages.page <= 1} onClick={pages.previous}>
        ‹ Newer
      </button>
      <span class="page-number">page {pages.page}</span>
      <button type="button" disabled={nextPageToken === ""} onClick={() => pages.next(nextPageToken)}>
        Older ›
      </button>
    </nav>
  );
}
