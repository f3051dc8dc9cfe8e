import { durationMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import type { QueueConfig } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { api } from "../api.js";
import { ErrorBanner, Loading, Section } from "../components/common.js";
import { HistoryChart } from "../components/history-chart.js";
import { STATES, formatDurationMs, stateName } from "../format.js";
import { usePoll } from "../poll.js";
import { href } from "../router.js";
import { QueueCounts, oldestWait, usePauseToggle } from "./queues.js";

/** One queue: its counts, its history, its settings, and pause or resume. */
export function QueuePage(props: { name: string; canChange: boolean }) {
  const queue = usePoll((signal) => api.queues.getQueue({ queue: props.name }, { signal }).then((r) => r.queue), [props.name]);
  const { busy, error: actionError, toggle } = usePauseToggle(queue.refresh);
  const q = queue.data;
  const missing = queue.error instanceof ConnectError && queue.error.code === Code.NotFound;
  return (
    <>
      <Section
        title={
          <>
            Queue {props.name} {q?.paused ? <span class="badge state-paused">PAUSED</span> : null}
          </>
        }
        actions={
          <>
            <a class="button" href={href("jobs", { queue: props.name })}>
              Jobs
            </a>
            {props.canChange && q ? (
              <button type="button" class="pause-toggle" disabled={busy !== undefined} onClick={() => void toggle(q)}>
                {q.paused ? "Resume" : "Pause"}
              </button>
            ) : null}
          </>
        }
      >
        <ErrorBanner error={actionError ?? (missing ? undefined : queue.error)} />
        {missing ? <p class="empty">No jobs and no settings yet; its history shows what it had.</p> : null}
        {q === undefined ? (
          missing ? null : <Loading />
        ) : (
          <div class="table-wrap">
            <table class="queues">
              <thead>
                <tr>
                  {STATES.map((s) => (
                    <th class="num" key={s}>
                      {stateName(s).toLowerCase()}
                    </th>
                  ))}
                  <th>Oldest waiting</th>
                </tr>
              </thead>
              <tbody>
                <tr data-queue={q.name}>
                  <QueueCounts queue={q} />
                  <td>{oldestWait(q)}</td>
                </tr>
              </tbody>
            </table>
          </div>
        )}
      </Section>
      <Section title="Throughput">
        <HistoryChart queue={props.name} />
      </Section>
      {q?.config ? (
        <Section title="Settings">
          <Settings config={q.config} />
        </Section>
      ) : null}
    </>
  );
}

function Settings(props: { config: QueueConfig }) {
  const c = props.config;
  const duration = (d: Parameters<typeof durationMs>[0] | undefined) => (d && durationMs(d) > 0 ? formatDurationMs(durationMs(d)) : "broker default");
  const limit = (n: number, unit = "") => (n > 0 ? `${n}${unit}` : "none");
  const rows: [string, string][] = [
    ["max attempts", c.maxAttempts > 0 ? String(c.maxAttempts) : "broker default"],
    ["lease", duration(c.leaseDuration)],
    ["retry base delay", duration(c.retryBaseDelay)],
    ["retry max delay", duration(c.retryMaxDelay)],
    ["default timeout", c.defaultTimeout && durationMs(c.defaultTimeout) > 0 ? formatDurationMs(durationMs(c.defaultTimeout)) : "none"],
    ["succeeded retention", duration(c.succeededRetention)],
    ["dead retention", duration(c.deadRetention)],
    ["cancelled retention", duration(c.cancelledRetention)],
    ["concurrency limit", limit(c.concurrencyLimit)],
    ["rate limit", limit(c.rateLimit, "/s")],
    ["fairness key limit", limit(c.fairnessKeyLimit)],
  ];
  return (
    <table class="kv settings">
      <tbody>
        {rows.map(([name, value]) => (
          <tr key={name}>
            <th>{name}</th>
            <td>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
