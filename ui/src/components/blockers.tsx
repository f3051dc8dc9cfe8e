import { JobState } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { api } from "../api.js";
import { formatRelative, formatTime, previewBytes } from "../format.js";
import { usePoll } from "../poll.js";
import { href } from "../router.js";
import { ErrorBanner, Loading, StateBadge } from "./common.js";

/**
 * The jobs a dependant waits on (depends_on), each with its state and the start of its result:
 * what the dependant's worker receives as depends_on_results once they all succeed.
 */
export function Blockers(props: { ids: string[] }) {
  const key = props.ids.join(",");
  const blockers = usePoll(
    (signal) => api.jobs.listJobs({ filter: { ids: props.ids }, pageSize: props.ids.length }, { signal }).then((r) => new Map(r.jobs.map((j) => [j.id, j]))),
    [key],
  );
  const found = blockers.data;
  if (found === undefined) return blockers.error ? <ErrorBanner error={blockers.error} /> : <Loading />;
  return (
    <>
      <ErrorBanner error={blockers.error} />
      <div class="table-wrap">
        <table class="blockers">
          <thead>
            <tr>
              <th class="num">ID</th>
              <th>Queue</th>
              <th>State</th>
              <th>Finished</th>
              <th>Result</th>
            </tr>
          </thead>
          <tbody>
            {props.ids.map((id) => {
              const job = found.get(id);
              return (
                <tr key={id} data-job-id={id}>
                  <td class="num">
                    <a href={href(`jobs/${id}`)}>{id}</a>
                  </td>
                  {job ? (
                    <>
                      <td>{job.queue}</td>
                      <td>
                        <StateBadge job={job} />
                      </td>
                      <td title={formatTime(job.finishTime)}>{job.finishTime ? formatRelative(job.finishTime) : "—"}</td>
                      <td class="mono preview result">
                        {job.result.length > 0 ? previewBytes(job.result, 80) : <span class="muted">{job.state === JobState.SUCCEEDED ? "no result" : "not yet"}</span>}
                      </td>
                    </>
                  ) : (
                    <td colSpan={4} class="muted">
                      deleted (retention or DeleteJob)
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </>
  );
}
