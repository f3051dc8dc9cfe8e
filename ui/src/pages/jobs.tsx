import { useState } from "preact/hooks";
import { JobState } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import type { Queue } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { api } from "../api.js";
import { Empty, ErrorBanner, Loading, Section } from "../components/common.js";
import { JobTable, Pager } from "../components/job-table.js";
import { STATES, parseState, stateName } from "../format.js";
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

export function JobsPage(props: { location: Location; queues: Queue[] | undefined }) {
  const queue = props.location.query.get("queue") ?? "";
  const state = parseState(props.location.query.get("state"));
  const chain = props.location.query.get("chain") ?? "";
  const pages = usePages(`${queue}|${state}|${chain}`);
  const [chainInput, setChainInput] = useState(chain);

  const { data, error } = usePoll(
    (signal) => api.jobs.listJobs({ queue, state, chainId: chain, pageSize: PAGE_SIZE, pageToken: pages.token }, { signal }),
    [queue, state, chain, pages.token],
  );

  const setFilter = (changes: Record<string, string>) => {
    const next = { queue, state: state === JobState.UNSPECIFIED ? "" : stateName(state), chain, ...changes };
    navigate(href("jobs", next), { replace: true });
  };

  return (
    <Section
      title="Jobs"
      actions={
        <form
          class="filters"
          onSubmit={(e) => {
            e.preventDefault();
            setFilter({ chain: chainInput.trim() });
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
          <button type="submit">Filter</button>
          {queue || state || chain ? (
            <button
              type="button"
              class="link"
              onClick={() => {
                setChainInput("");
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
      {data === undefined ? (
        <Loading />
      ) : data.jobs.length === 0 ? (
        <Empty>No jobs match.</Empty>
      ) : (
        <JobTable jobs={data.jobs} />
      )}
      <Pager pages={pages} nextPageToken={data?.nextPageToken} />
    </Section>
  );
}
