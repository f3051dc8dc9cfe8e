import { useState } from "preact/hooks";
import type { Schedule } from "../../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { api } from "../api.js";
import { ErrorBanner } from "./common.js";
import { OVERLAP_CHOICES, SCHEDULE_FIELDS, scheduleInputs, scheduleUpdate } from "../schedule-edit.js";

/**
 * Edits one schedule's definition (UpdateSchedule): a save sends only the fields edited since
 * the form opened; the broker's refusal, naming the field, keeps the form open.
 */
export function ScheduleEditor(props: { schedule: Schedule; onSaved: (message: string) => void; onClose: () => void }) {
  const [inputs, setInputs] = useState<Record<string, string>>(() => scheduleInputs(props.schedule));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const name = props.schedule.name;

  const save = async () => {
    const update = scheduleUpdate(props.schedule, inputs);
    if ("error" in update) return setError(new Error(update.error));
    if (update.paths.length === 0) return props.onClose();
    setBusy(true);
    setError(undefined);
    try {
      await api.schedules.updateSchedule({ schedule: update.schedule, updateMask: { paths: update.paths } });
      props.onSaved(`Schedule "${name}": saved ${update.paths.map((p) => SCHEDULE_FIELDS.find((f) => f.path === p)!.label).join(", ")}.`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="schedule-edit"
      data-schedule={name}
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <fieldset>
        <legend>Edit schedule {name}</legend>
        <ErrorBanner error={error} />
        <div class="form-row">
          {SCHEDULE_FIELDS.map((field) => (
            <label key={field.path}>
              {field.label}
              {field.path === "overlap_policy" ? (
                <select name={field.path} value={inputs[field.path]} onChange={(e) => setInputs({ ...inputs, [field.path]: e.currentTarget.value })}>
                  {OVERLAP_CHOICES.map((c) => (
                    <option key={c.value} value={c.value}>
                      {c.text}
                    </option>
                  ))}
                </select>
              ) : (
                <input
                  name={field.path}
                  size={field.path === "cron" || field.path === "queue" || field.path === "time_zone" ? 14 : 11}
                  placeholder={field.empty}
                  value={inputs[field.path]}
                  onInput={(e) => setInputs({ ...inputs, [field.path]: e.currentTarget.value })}
                />
              )}
              {field.unit ? <span class="small">{field.unit}</span> : null}
            </label>
          ))}
        </div>
        <p class="form-actions">
          <button type="submit" class="save-schedule" disabled={busy}>
            Save
          </button>{" "}
          <button type="button" class="link" onClick={props.onClose}>
            cancel
          </button>
          <span class="muted small"> A new cron or time zone moves the next run to its first fire time from now. Payload and headers: baton schedules update.</span>
        </p>
      </fieldset>
    </form>
  );
}
