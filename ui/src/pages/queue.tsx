import { Code, ConnectError } from "@connectrpc/connect";
import { useState } from "preact/hooks";
import type { QueueConfig } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { useAction } from "../action.js";
import { api } from "../api.js";
import { ErrorBanner, Loading, Section } from "../components/common.js";
import { HistoryChart } from "../components/history-chart.js";
import { STATES, stateName } from "../format.js";
import { usePoll } from "../poll.js";
import { QUEUE_SETTINGS, type QueueSetting, queueUpdate, settingInput, settingText } from "../queue-settings.js";
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
      {q?.config ? <Settings queue={props.name} config={q.config} canChange={props.canChange} refresh={queue.refresh} /> : null}
    </>
  );
}

/**
 * The queue's settings; an admin edits them in place. A save sends only what changed, and the
 * broker's answer (its refusal, naming the field, included) shows above the form.
 */
function Settings(props: { queue: string; config: QueueConfig; canChange: boolean; refresh: () => void }) {
  // The settings as they were when editing began: a save changes only what was edited since.
  const [edit, setEdit] = useState<{ base: QueueConfig; inputs: Record<string, string> } | undefined>();
  const [invalid, setInvalid] = useState<string | undefined>();
  const { busy, error, notice, act } = useAction(props.refresh);
  const inputs = edit?.inputs;
  const startEditing = () => {
    setInvalid(undefined);
    setEdit({ base: props.config, inputs: Object.fromEntries(QUEUE_SETTINGS.map((s) => [s.path, settingInput(props.config, s)])) });
  };
  const stopEditing = () => {
    setInvalid(undefined);
    setEdit(undefined);
  };
  const save = (base: QueueConfig, inputs: Record<string, string>) => {
    const update = queueUpdate(base, inputs);
    setInvalid("error" in update ? update.error : undefined);
    if ("error" in update) return;
    if (update.paths.length === 0) {
      stopEditing();
      return;
    }
    void act("save", async () => {
      await api.queues.updateQueue({ queue: props.queue, config: update.config, updateMask: { paths: update.paths } });
      setEdit(undefined);
      return `Saved ${update.paths.map((path) => QUEUE_SETTINGS.find((s) => s.path === path)!.label).join(", ")}.`;
    });
  };
  return (
    <Section
      title="Settings"
      actions={
        props.canChange && edit === undefined ? (
          <button type="button" class="edit-settings" onClick={startEditing}>
            Edit settings
          </button>
        ) : null
      }
    >
      {/* What the page refused replaces what the broker refused before. */}
      <ErrorBanner error={invalid !== undefined ? new Error(invalid) : error} />
      {notice ? <div class="banner banner-ok">{notice}</div> : null}
      <form
        class="settings-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (edit) save(edit.base, edit.inputs);
        }}
      >
        <table class="kv settings">
          <tbody>
            {QUEUE_SETTINGS.map((s) => (
              <tr key={s.path} data-setting={s.path}>
                <th>
                  <label for={`setting-${s.path}`}>{s.label}</label>
                </th>
                <td>
                  {inputs ? (
                    <>
                      <input
                        id={`setting-${s.path}`}
                        name={s.path}
                        inputMode="decimal"
                        size={10}
                        value={inputs[s.path]}
                        placeholder={s.unset}
                        onInput={(e) => setEdit({ base: edit.base, inputs: { ...inputs, [s.path]: e.currentTarget.value } })}
                      />{" "}
                      <span class="muted small">{UNITS[s.kind]}</span>
                    </>
                  ) : (
                    settingText(props.config, s)
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {edit ? (
          <p class="form-actions">
            <button type="submit" class="save-settings" disabled={busy !== undefined}>
              Save
            </button>{" "}
            <button type="button" class="link" onClick={stopEditing}>
              cancel
            </button>
            <span class="muted small"> Empty resets a setting to the broker's default (limits: none).</span>
          </p>
        ) : null}
      </form>
    </Section>
  );
}

const UNITS: Record<QueueSetting["kind"], string> = { int: "", rate: "jobs per second", seconds: "seconds" };
