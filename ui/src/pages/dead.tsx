import { type Job, JobState } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import type { Queue } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { useAction } from "../action.js";
import { api } from "../api.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { JobTable, Pager } from "../components/job-table.js";
import type { Permissions } from "../permissions.js";
import { usePoll } from "../poll.js";
import { type Location, href, navigate } from "../router.js";
import { PAGE_SIZE, usePages } from "./jobs.js";

/** Dead jobs, newest first, with a retry per job and a bulk RetryJobs per queue. */
export function DeadPage(props: { location: Location; queues: Queue[] | undefined; refreshQueues(): void; can: Permissions }) {
  const queue = props.location.query.get("queue") ?? "";
  const pages = usePages(queue);
  const { data, error, refresh } = usePoll(
    (signal) => api.jobs.listJobs({ queue, state: JobState.DEAD, pageSize: PAGE_SIZE, pageToken: pages.token }, { signal }),
    [queue, pages.token],
  );
  const { busy, error: actionError, notice, act } = useAction(() => {
    refresh();
    props.refreshQueues();
  });

  const retryOne = (job: Job) =>
    act(`job:${job.id}`, async () => {
      const { job: retried } = await api.jobs.retryJob({ id: job.id });
      if (retried?.state === JobState.BLOCKED) return `Job ${job.id} has a fresh attempt budget and waits for its blockers again.`;
      return `Job ${job.id} is queued again with a fresh attempt budget.`;
    });

  const retryQueue = (name: string, dead: number) => {
    if (!window.confirm(`Retry all ${dead} dead jobs of queue "${name}"?`)) return;
    void act(`queue:${name}`, async () => {
      const { count, skipped } = await api.jobs.retryJobs({ queue: name, state: JobState.DEAD });
      const notRetried = skipped.map((job) => ` Job ${job.id} was not retried: ${job.reason}.`).join("");
      return `${count} dead jobs of "${name}" are queued again.${notRetried}`;
    });
  };

  const withDead = (props.queues ?? []).filter((q) => q.dead > 0n);

  return (
    <>
      <Section title="Dead letters by queue">
        <ErrorBanner error={actionError} />
        {notice ? <div class="banner banner-ok">{notice}</div> : null}
        {props.queues === undefined ? (
          <Loading />
        ) : withDead.length === 0 ? (
          <Empty>No dead jobs.</Empty>
        ) : (
          <ul class="dead-queues">
            {withDead.map((q) => (
              <li key={q.name} data-queue={q.name}>
                <a href={href("dead", { queue: q.name })} class={q.name === queue ? "active" : ""}>
                  {q.name}
                </a>
                <span class="count count-dead">{q.dead.toLocaleString()} dead</span>
                {props.can.admin ? (
                  <button type="button" disabled={busy !== undefined} onClick={() => retryQueue(q.name, Number(q.dead))}>
                    Retry all
                  </button>
                ) : null}
              </li>
            ))}
          </ul>
        )}
      </Section>
      <Section
        title={queue ? `Dead jobs in ${queue}` : "Dead jobs"}
        actions={
          queue ? (
            <button type="button" class="link" onClick={() => navigate(href("dead"), { replace: true })}>
              all queues
            </button>
          ) : null
        }
      >
        <ErrorBanner error={error} />
        {data === undefined ? (
          <Loading />
        ) : data.jobs.length === 0 ? (
          <Empty>Nothing in the dead-letter list{queue ? ` of ${queue}` : ""}.</Empty>
        ) : (
          <JobTable
            jobs={data.jobs}
            action={
              props.can.changeJobs
                ? (job) => (
                    <button type="button" class="retry" disabled={busy !== undefined} onClick={() => void retryOne(job)}>
                      Retry
                    </button>
                  )
                : undefined
            }
          />
        )}
        <Pager pages={pages} nextPageToken={data?.nextPageToken} />
      </Section>
    </>
  );
}
