import { api } from "../api.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { formatLabels, formatRelative, formatTime } from "../format.js";
import { usePoll } from "../poll.js";

export function WorkersPage() {
  const { data, error } = usePoll((signal) => api.workers.listWorkers({}, { signal }), []);
  return (
    <Section title="Workers">
      <ErrorBanner error={error} />
      {data === undefined ? (
        <Loading />
      ) : data.workers.length === 0 ? (
        <Empty>No worker streams are connected.</Empty>
      ) : (
        <div class="table-wrap">
          <table class="workers">
            <thead>
              <tr>
                <th>Worker</th>
                <th>Queues</th>
                <th>Labels</th>
                <th class="num">In flight</th>
                <th>Connected</th>
                <th>Last seen</th>
                <th>Replica</th>
              </tr>
            </thead>
            <tbody>
              {data.workers.map((w) => (
                <tr key={w.sessionId}>
                  <td title={`session ${w.sessionId}`}>{w.workerId}</td>
                  <td>{w.queues.join(", ")}</td>
                  <td class="mono">{formatLabels(w.labels) || "-"}</td>
                  <td class="num">
                    {w.inFlight}/{w.maxInFlight}
                  </td>
                  <td title={formatTime(w.connectTime)}>{formatRelative(w.connectTime)}</td>
                  <td title={formatTime(w.lastSeenTime)}>{formatRelative(w.lastSeenTime)}</td>
                  <td class="mono">{w.replica}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
