import { durationMs } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { OverlapPolicy, type Schedule } from "../../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { api } from "../api.js";
import { MAX_PAGE_SIZE, allPages } from "../../../clients/ts/src/pages.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { ScheduleEditor } from "../components/schedule-editor.js";
import { formatDurationMs, formatRelative, formatTime, previewBytes } from "../format.js";
import { usePoll } from "../poll.js";
import { href } from "../router.js";

export function SchedulesPage(props: { canChange: boolean }) {
  const [busy, setBusy] = useState<string | undefined>();
  const [actionError, setActionError] = useState<unknown>();
  const [notice, setNotice] = useState<string | undefined>();
  // The schedule being edited, as it was when its form opened.
  const [editing, setEditing] = useState<Schedule | undefined>();
  const { data, error, refresh } = usePoll(
    async (signal) => ({
      schedules: await allPages((pageToken) => api.schedules.listSchedules({ pageSize: MAX_PAGE_SIZE, pageToken }, { signal }), (page) => page.schedules),
    }),
    [],
    5000,
  );

  /** Runs a pause, resume or trigger of one schedule, then shows the schedules as they are now. */
  const act = async (schedule: Schedule, action: () => Promise<string | undefined>) => {
    setBusy(schedule.name);
    setActionError(undefined);
    setNotice(undefined);
    try {
      setNotice(await action());
      refresh();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(undefined);
    }
  };
  const togglePause = (s: Schedule) =>
    act(s, async () => {
      if (s.paused) await api.schedules.resumeSchedule({ name: s.name });
      else await api.schedules.pauseSchedule({ name: s.name });
      return undefined;
    });
  const trigger = (s: Schedule) =>
    act(s, async () => {
      const { job } = await api.schedules.triggerSchedule({ name: s.name });
      return `Schedule "${s.name}" fired now: job ${job!.id}.`;
    });

  return (
    <Section title="Schedules">
      <ErrorBanner error={actionError ?? error} />
      {notice ? <div class="banner banner-ok">{notice}</div> : null}
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
                <th>Catch-up</th>
                <th>Overlap</th>
                <th class="num">Priority</th>
                <th class="num">Max attempts</th>
                <th>Payload</th>
                {props.canChange ? <th /> : null}
              </tr>
            </thead>
            <tbody>
              {data.schedules.map((s) => (
                <tr key={s.name} data-schedule={s.name}>
                  <td>
                    {s.name}
                    {s.paused ? <span class="badge state-paused">PAUSED</span> : null}
                  </td>
                  <td>
                    <a href={href("jobs", { queue: s.queue })}>{s.queue}</a>
                  </td>
                  <td class="mono">{s.cron}</td>
                  <td>{s.timeZone || "UTC"}</td>
                  <td title={formatTime(s.nextRunTime)}>{formatRelative(s.nextRunTime)}</td>
                  <td title={formatTime(s.lastRunTime)}>{formatRelative(s.lastRunTime)}</td>
                  <td title="missed fire times made up when the broker is back or the schedule resumed">
                    {s.catchupWindow ? `within ${formatDurationMs(durationMs(s.catchupWindow))}` : "latest only"}
                  </td>
                  <td>{s.overlapPolicy === OverlapPolicy.SKIP ? "skip while running" : "allow"}</td>
                  <td class="num">{s.priority}</td>
                  <td class="num">{s.maxAttempts || "queue default"}</td>
                  <td class="mono preview">{previewBytes(s.payload, 48)}</td>
                  {props.canChange ? (
                    <td class="actions">
                      <button type="button" disabled={busy === s.name} onClick={() => void togglePause(s)}>
                        {s.paused ? "Resume" : "Pause"}
                      </button>
                      <button type="button" disabled={busy === s.name} onClick={() => void trigger(s)}>
                        Run now
                      </button>
                      <button
                        type="button"
                        disabled={editing?.name === s.name}
                        onClick={() => {
                          setNotice(undefined);
                          setEditing(s);
                        }}
                      >
                        Edit
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {props.canChange && editing ? (
        <ScheduleEditor
          key={editing.name}
          schedule={editing}
          onClose={() => setEditing(undefined)}
          onSaved={(message) => {
            setEditing(undefined);
            setNotice(message);
            refresh();
          }}
        />
      ) : null}
    </Section>
  );
}
