import { durationMs } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import type { Queue } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { api } from "../api.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { Sparkline } from "../components/sparkline.js";
import { STATES, formatDurationMs, stateName } from "../format.js";
import type { QueueHistory } from "../metrics.js";
import { href } from "../router.js";

const COUNT_OF = {
  SCHEDULED: (q: Queue) => q.scheduled,
  BLOCKED: (q: Queue) => q.blocked,
  AVAILABLE: (q: Queue) => q.available,
  LEASED: (q: Queue) => q.leased,
  SUCCEEDED: (q: Queue) => q.succeeded,
  DEAD: (q: Queue) => q.dead,
  CANCELLED: (q: Queue) => q.cancelled,
} as const;

const perSecond = (v: number) => `${v < 10 ? v.toFixed(1) : Math.round(v)}/s`;
const percent = (v: number) => `${Math.round(v * 100)}%`;

export function QueuesPage(props: { queues: Queue[] | undefined; history: QueueHistory; error: unknown; refresh(): void }) {
  const [busy, setBusy] = useState<string | undefined>();
  const [actionError, setActionError] = useState<unknown>();

  const toggle = async (queue: Queue) => {
    setBusy(queue.name);
    setActionError(undefined);
    try {
      if (queue.paused) await api.queues.resumeQueue({ queue: queue.name });
      else await api.queues.pauseQueue({ queue: queue.name });
      props.refresh();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(undefined);
    }
  };

  return (
    <Section title="Queues">
      <ErrorBanner error={actionError ?? props.error} />
      <p class="note">
        Throughput (jobs finished per second) and failure rate (dead among finished) are computed in this browser from the
        per-state counts of ListQueues, polled every 2 s since the page opened.
      </p>
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
                <th>Throughput</th>
                <th>Failure rate</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {props.queues.map((queue) => {
                const rates = props.history.rates(queue.name);
                const age = queue.oldestAvailableAge ? durationMs(queue.oldestAvailableAge) : 0;
                return (
                  <tr key={queue.name} data-queue={queue.name}>
                    <td>
                      <a href={href("jobs", { queue: queue.name })}>{queue.name}</a>
                      {queue.paused ? <span class="badge state-paused">PAUSED</span> : null}
                    </td>
                    {STATES.map((s) => {
                      const name = stateName(s);
                      const count = Number(COUNT_OF[name as keyof typeof COUNT_OF](queue));
                      return (
                        <td class={`num count ${count > 0 ? `count-${name.toLowerCase()}` : "zero"}`} key={s}>
                          <a href={href(name === "DEAD" ? "dead" : "jobs", { queue: queue.name, state: name === "DEAD" ? undefined : name })}>
                            {count.toLocaleString()}
                          </a>
                        </td>
                      );
                    })}
                    <td>{age > 0 ? formatDurationMs(age) : "—"}</td>
                    <td>
                      <Sparkline values={rates.throughput} label={`${queue.name} throughput`} format={perSecond} />
                    </td>
                    <td>
                      <Sparkline values={rates.failureRate} max={1} label={`${queue.name} failure rate`} format={percent} tone="bad" />
                    </td>
                    <td class="actions">
                      <button type="button" disabled={busy === queue.name} onClick={() => void toggle(queue)}>
                        {queue.paused ? "Resume" : "Pause"}
                      </button>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
