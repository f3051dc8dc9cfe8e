import { durationMs } from "@bufbuild/protobuf/wkt";
import type { Queue } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { useAction } from "../action.js";
import { api } from "../api.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { HistoryChart } from "../components/history-chart.js";
import { STATES, formatDurationMs, stateName } from "../format.js";
import { href } from "../router.js";

export const COUNT_OF = {
  SCHEDULED: (q: Queue) => q.scheduled,
  BLOCKED: (q: Queue) => q.blocked,
  AVAILABLE: (q: Queue) => q.available,
  LEASED: (q: Queue) => q.leased,
  SUCCEEDED: (q: Queue) => q.succeeded,
  DEAD: (q: Queue) => q.dead,
  CANCELLED: (q: Queue) => q.cancelled,
} as const;

/** Pauses a running queue or resumes a paused one; the broker refuses callers without the right. */
export function usePauseToggle(refresh: () => void) {
  const { busy, error, act } = useAction(refresh);
  const toggle = (queue: Queue) =>
    act(queue.name, async () => {
      if (queue.paused) await api.queues.resumeQueue({ queue: queue.name });
      else await api.queues.pauseQueue({ queue: queue.name });
      return "";
    });
  return { busy, error, toggle };
}

export function QueuesPage(props: { queues: Queue[] | undefined; error: unknown; refresh: () => void; canChange: boolean }) {
  const { busy, error: actionError, toggle } = usePauseToggle(props.refresh);
  return (
    <>
      <Section title="Throughput, all queues">
        <HistoryChart />
      </Section>
      <Section title="Queues">
        <ErrorBanner error={actionError ?? props.error} />
        {props.queues === undefined ? (
          <Loading />
        ) : props.queues.length === 0 ? (
          <Empty>No queues yet: a queue appears with its first job or setting.</Empty>
        ) : (
          <div class="table-wrap">
            <table class="queues">
              <thead>
                <tr>
                  <th>Queue</th>
                  {STATES.map((s) => (
                    <th class="num" key={s}>
                      {stateName(s).toLowerCase()}
                    </th>
                  ))}
                  <th>Oldest waiting</th>
                  {props.canChange ? <th /> : null}
                </tr>
              </thead>
              <tbody>
                {props.queues.map((queue) => (
                  <tr key={queue.name} data-queue={queue.name}>
                    <td>
                      <a href={href(`queues/${encodeURIComponent(queue.name)}`)}>{queue.name}</a>
                      {queue.paused ? <span class="badge state-paused">PAUSED</span> : null}
                    </td>
                    <QueueCounts queue={queue} />
                    <td>{oldestWait(queue)}</td>
                    {props.canChange ? (
                      <td class="actions">
                        <button type="button" disabled={busy === queue.name} onClick={() => void toggle(queue)}>
                          {queue.paused ? "Resume" : "Pause"}
                        </button>
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Section>
    </>
  );
}

export function oldestWait(queue: Queue): string {
  const age = queue.oldestAvailableAge ? durationMs(queue.oldestAvailableAge) : 0;
  return age > 0 ? formatDurationMs(age) : "—";
}

/** One cell per state, each a link to the jobs (or dead letters) of the queue in that state. */
export function QueueCounts(props: { queue: Queue }) {
  const { queue } = props;
  return (
    <>
      {STATES.map((s) => {
        const name = stateName(s);
        const count = Number(COUNT_OF[name as keyof typeof COUNT_OF](queue));
        return (
          <td class={`num count ${count > 0 ? `count-${name.toLowerCase()}` : "zero"}`} key={s}>
            <a href={href(name === "DEAD" ? "dead" : "jobs", { queue: queue.name, state: name === "DEAD" ? undefined : name })}>{count.toLocaleString()}</a>
          </td>
        );
      })}
    </>
  );
}
