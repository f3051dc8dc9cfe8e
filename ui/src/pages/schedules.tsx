import { api } from "../api.js";
import { MAX_PAGE_SIZE, allPages } from "../../../clients/ts/src/pages.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { formatRelative, formatTime, previewBytes } from "../format.js";
import { usePoll } from "../poll.js";
import { href } from "../router.js";

export function SchedulesPage() {
  const { data, error } = usePoll(
    async (signal) => ({
      schedules: await allPages((pageToken) => api.schedules.listSchedules({ pageSize: MAX_PAGE_SIZE, pageToken }, { signal }), (page) => page.schedules),
    }),
    [],
    5000,
  );
  return (
    <Section title="Schedules">
      <ErrorBanner error={error} />
      {data === undefined ? (
        <Loading />
      ) : data.schedules.length === 0 ? (
        <Empty>
          No cron schedules. Create one with <code>baton schedules create</code> or the CreateSchedule RPC.
        </Empty>
      ) : (
        <div class="table-wrap">
          <table class="schedules">
            <thead>
              <tr>
                <th>Name</th>
                <th>Queue</th>
                <th>Cron</th>
                <th>Time zone</th>
                <th>Next run</th>
                <th>Last run</th>
                <th class="num">Priority</th>
                <th class="num">Max attempts</th>
                <th>Payload</th>
              </tr>
            </thead>
            <tbody>
              {data.schedules.map((s) => (
                <tr key={s.name} data-schedule={s.name}>
                  <td>{s.name}</td>
                  <td>
                    <a href={href("jobs", { queue: s.queue })}>{s.queue}</a>
                  </td>
                  <td class="mono">{s.cron}</td>
                  <td>{s.timeZone || "UTC"}</td>
                  <td title={formatTime(s.nextRunTime)}>{formatRelative(s.nextRunTime)}</td>
                  <td title={formatTime(s.lastRunTime)}>{formatRelative(s.lastRunTime)}</td>
                  <td class="num">{s.priority}</td>
                  <td class="num">{s.maxAttempts || "queue default"}</td>
                  <td class="mono preview">{previewBytes(s.payload, 48)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}
