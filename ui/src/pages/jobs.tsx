import { type Timestamp, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import { JobState } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import type { Queue } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { useAction } from "../action.js";
import { api } from "../api.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { JobTable, Pager } from "../components/job-table.js";
import { STATES, isoFromLocalInput, localInputFromIso, parseState, stateName } from "../format.js";
import type { Permissions } from "../permissions.js";
import { usePoll } from "../poll.js";
import { type Location, href, navigate } from "../router.js";

export const PAGE_SIZE = 50;

/** Page tokens of the pages before the current one ("" is the first page). */
export function usePages(filterKey: string) {
  const [state, setState] = useState<{ key: string; tokens: string[] }>({ key: filterKey, tokens: [""] });
  // Other filters start again from the newest page.
  const tokens = state.key === filterKey ? state.tokens : [""];
  return {
    token: tokens[tokens.length - 1]!,
    page: tokens.length,
    next: (token: string) => setState({ key: filterKey, tokens: [...tokens, token] }),
    previous: () => setState({ key: filterKey, tokens: tokens.slice(0, -1) }),
    first: () => setState({ key: filterKey, tokens: [""] }),
  };
}

/** The `header` query parameter, "key=value", as a header filter; undefined when malformed. */
export function parseHeader(text: string): Record<string, string> | undefined {
  if (text === "") return {};
  const eq = text.indexOf("=");
  return eq <= 0 ? undefined : { [text.slice(0, eq)]: text.slice(eq + 1) };
}

/** A creation-time bound from the URL: undefined when absent, null when not a time. */
function parseInstant(iso: string): Timestamp | undefined | null {
  if (iso === "") return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : timestampFromMs(ms);
}

export function JobsPage(props: { location: Location; queues: Queue[] | undefined; can: Permissions }) {
  const queue = props.location.query.get("queue") ?? "";
  const state = parseState(props.location.query.get("state"));
  const chain = props.location.query.get("chain") ?? "";
  const header = props.location.query.get("header") ?? "";
  const headers = parseHeader(header);
  // Creation time bounds, ISO instants in the URL.
  const after = props.location.query.get("after") ?? "";
  const before = props.location.query.get("before") ?? "";
  const createTimeAfter = parseInstant(after);
  const createTimeBefore = parseInstant(before);
  const pages = usePages(`${queue}|${state}|${chain}|${header}|${after}|${before}`);
  const [chainInput, setChainInput] = useState(chain);
  const [headerInput, setHeaderInput] = useState(header);
  const [afterInput, setAfterInput] = useState(localInputFromIso(after));
  const [beforeInput, setBeforeInput] = useState(localInputFromIso(before));

  const filter = {
    queue,
    states: state === JobState.UNSPECIFIED ? [] : [state],
    chainId: chain,
    headers: headers ?? {},
    createTimeAfter: createTimeAfter ?? undefined,
    createTimeBefore: createTimeBefore ?? undefined,
  };
  const valid = headers !== undefined && createTimeAfter !== null && createTimeBefore !== null;
  const { data, error, refresh } = usePoll(
    (signal) => api.jobs.listJobs({ filter, pageSize: PAGE_SIZE, pageToken: pages.token }, { signal }),
    [queue, state, chain, header, after, before, pages.token],
  );
  // Jobs ticked in the table; the bulk buttons act on them, else on the whole filter.
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const { busy, error: actionError, notice, act } = useAction(() => {
    setSelected(new Set());
    refresh();
  });
  const filtered = queue !== "" || state !== JobState.UNSPECIFIED || chain !== "" || header !== "" || after !== "" || before !== "";
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (!next.delete(id)) next.add(id);
    setSelected(next);
  };

  const setFilter = (changes: Record<string, string>) => {
    const next = { queue, state: state === JobState.UNSPECIFIED ? "" : stateName(state), chain, header, after, before, ...changes };
    setSelected(new Set());
    navigate(href("jobs", next), { replace: true });
  };

  // The bulk operations take the ticked jobs or the filter the list shows; the broker refuses
  // states they never change.
  const picked = selected.size > 0;
  const target = picked ? { ids: [...selected] } : filter;
  const cancelTarget = () => {
    const what = picked ? `the ${selected.size} selected jobs` : "every unfinished job matching this filter";
    if (!window.confirm(`Cancel ${what}? Running jobs are asked to stop.`)) return;
    void act("cancel", async () => {
      const { cancelled, cancelRequested } = await api.jobs.cancelJobs({ filter: target });
      return `${cancelled} jobs cancelled; ${cancelRequested} running jobs asked to stop.`;
    });
  };
  const retryTarget = () => {
    const what = picked ? `the ${selected.size} selected jobs` : "every dead or cancelled job matching this filter";
    if (!window.confirm(`Retry ${what}? Only dead and cancelled jobs are revived.`)) return;
    void act("retry", async () => {
      const { count, skipped } = await api.jobs.retryJobs({ filter: target });
      return `${count} jobs queued again${skipped.length > 0 ? `; ${skipped.length} skipped (${skipped[0]!.reason}${skipped.length > 1 ? ", …" : ""})` : ""}.`;
    });
  };
  const deleteTarget = () => {
    const what = picked ? `the ${selected.size} selected jobs` : "every job matching this filter";
    if (!window.confirm(`Delete ${what}? Running jobs are kept.`)) return;
    void act("delete", async () => `${(await api.jobs.deleteJobs({ filter: target })).count} jobs deleted.`);
  };

  return (
    <Section
      title="Jobs"
      actions={
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setFilter({ chain: chainInput.trim(), header: headerInput.trim(), after: isoFromLocalInput(afterInput), before: isoFromLocalInput(beforeInput) });
          }}
        >
          <label>
            Queue
            <select name="queue" value={queue} onChange={(e) => setFilter({ queue: e.currentTarget.value })}>
              <option value="">all</option>
              {(props.queues ?? []).map((q) => (
                <option key={q.name} value={q.name}>
                  {q.name}
                </option>
              ))}
              {queue !== "" && !(props.queues ?? []).some((q) => q.name === queue) ? <option value={queue}>{queue}</option> : null}
            </select>
          </label>
          <label>
            State
            <select name="state" value={state === JobState.UNSPECIFIED ? "" : stateName(state)} onChange={(e) => setFilter({ state: e.currentTarget.value })}>
              <option value="">all</option>
              {STATES.map((s) => (
                <option key={s} value={stateName(s)}>
                  {stateName(s).toLowerCase()}
                </option>
              ))}
            </select>
          </label>
          <label>
            Chain
            <input name="chain" placeholder="root job id" size={10} value={chainInput} onInput={(e) => setChainInput(e.currentTarget.value)} />
          </label>
          <label>
            Header
            <input name="header" placeholder="key=value" size={14} value={headerInput} onInput={(e) => setHeaderInput(e.currentTarget.value)} />
          </label>
          <label>
            Created after
            <input name="after" type="datetime-local" value={afterInput} onInput={(e) => setAfterInput(e.currentTarget.value)} />
          </label>
          <label>
            Created before
            <input name="before" type="datetime-local" value={beforeInput} onInput={(e) => setBeforeInput(e.currentTarget.value)} />
          </label>
          <button type="submit">Filter</button>
          {filtered ? (
            <button
              type="button"
              class="link"
              onClick={() => {
                setChainInput("");
                setHeaderInput("");
                setAfterInput("");
                setBeforeInput("");
                navigate(href("jobs"), { replace: true });
              }}
            >
              clear
            </button>
          ) : null}
        </form>
      }
    >
      <ErrorBanner error={error} />
      <ErrorBanner error={actionError} />
      {headers === undefined ? <div class="banner banner-error">Header must look like key=value.</div> : null}
      {createTimeAfter === null || createTimeBefore === null ? <div class="banner banner-error">Created after and before must be dates with a time.</div> : null}
      {notice ? <div class="banner banner-ok">{notice}</div> : null}
      {props.can.admin && (picked || (filtered && valid)) ? (
        <div class="bulk-actions">
          <button type="button" class="cancel-jobs" disabled={busy !== undefined} onClick={cancelTarget}>
            {picked ? `Cancel ${selected.size} selected` : "Cancel matching"}
          </button>
          <button type="button" class="retry-jobs" disabled={busy !== undefined} onClick={retryTarget}>
            {picked ? `Retry ${selected.size} selected` : "Retry matching"}
          </button>
          <button type="button" class="delete-jobs" disabled={busy !== undefined} onClick={deleteTarget}>
            {picked ? `Delete ${selected.size} selected` : "Delete matching"}
          </button>
        </div>
      ) : null}
      {data === undefined ? (
        <Loading />
      ) : data.jobs.length === 0 ? (
        <Empty>No jobs match.</Empty>
      ) : (
        <JobTable
          jobs={data.jobs}
          action={
            props.can.admin
              ? (job) => <input type="checkbox" class="select" aria-label={`select job ${job.id}`} checked={selected.has(job.id)} onChange={() => toggle(job.id)} />
              : undefined
          }
        />
      )}
      <Pager pages={pages} nextPageToken={data?.nextPageToken} />
    </Section>
  );
}
