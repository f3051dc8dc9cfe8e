// The Baton dashboard: a single page served by the broker at /ui, talking to the broker's
// Connect API from the browser. Every view polls, so it stays live without reloads.
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { MAX_PAGE_SIZE, allPages } from "../../clients/ts/src/pages.js";
import { type UiConfig, api, getToken, loadConfig, setToken } from "./api.js";
import { errorText } from "./components/common.js";
import { QueueHistory } from "./metrics.js";
import { DeadPage } from "./pages/dead.js";
import { JobPage } from "./pages/job.js";
import { JobsPage } from "./pages/jobs.js";
import { QueuesPage } from "./pages/queues.js";
import { SchedulesPage } from "./pages/schedules.js";
import { WorkersPage } from "./pages/workers.js";
import { usePoll } from "./poll.js";
import { href, onLinkClick, useLocation } from "./router.js";
import "./styles.css";

/** The queue list feeds the overview, the filters and the sparklines' samples. */
const QUEUES_POLL_MS = 2000;

const NAV = [
  { path: "", label: "Queues" },
  { path: "jobs", label: "Jobs" },
  { path: "dead", label: "Dead letters" },
  { path: "schedules", label: "Schedules" },
  { path: "workers", label: "Workers" },
];

function App() {
  const location = useLocation();
  const [config, setConfig] = useState<UiConfig>({ traceUrlTemplate: "" });
  const history = useMemo(() => new QueueHistory(), []);
  const queues = usePoll(
    async (signal) => {
      const queues = await allPages((pageToken) => api.queues.listQueues({ pageSize: MAX_PAGE_SIZE, pageToken }, { signal }), (page) => page.queues);
      history.record(queues, Date.now());
      return { queues, at: new Date() };
    },
    [],
    QUEUES_POLL_MS,
  );
  useEffect(() => void loadConfig().then(setConfig), []);

  const section = location.path.split("/")[0] ?? "";
  const jobId = /^jobs\/(\d+)$/.exec(location.path)?.[1];
  const deadCount = (queues.data?.queues ?? []).reduce((n, q) => n + Number(q.dead), 0);

  let page;
  if (jobId) page = <JobPage id={jobId} config={config} />;
  else if (section === "jobs") page = <JobsPage location={location} queues={queues.data?.queues} />;
  else if (section === "dead") page = <DeadPage location={location} queues={queues.data?.queues} refreshQueues={queues.refresh} />;
  else if (section === "schedules") page = <SchedulesPage />;
  else if (section === "workers") page = <WorkersPage />;
  else page = <QueuesPage queues={queues.data?.queues} history={history} error={queues.error} refresh={queues.refresh} />;

  return (
    <div class="app" onClick={onLinkClick}>
      <header class="top">
        <a class="brand" href={href("")}>
          Baton
        </a>
        <nav>
          {NAV.map((item) => (
            <a key={item.path} href={href(item.path)} class={section === item.path ? "active" : ""}>
              {item.label}
              {item.path === "dead" && deadCount > 0 ? <span class="pill">{deadCount}</span> : null}
            </a>
          ))}
        </nav>
        <LiveStatus error={queues.error} at={queues.data?.at} />
        <TokenField />
      </header>
      <main>{page}</main>
    </div>
  );
}

function LiveStatus(props: { error: unknown; at: Date | undefined }) {
  if (props.error !== undefined) {
    return (
      <span class="live live-down" title={errorText(props.error)}>
        ● disconnected
      </span>
    );
  }
  return (
    <span class="live" title={props.at ? `updated ${props.at.toLocaleTimeString()}` : "connecting"}>
      ● live
    </span>
  );
}

/** The API token, kept in localStorage and sent as `Authorization: Bearer` on every call. */
function TokenField() {
  const [value, setValue] = useState(getToken);
  const [saved, setSaved] = useState(getToken);
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        setSaved(value.trim());
      }}
    >
      <input
        type="password"
        name="token"
        autocomplete="off"
        placeholder="API token"
        aria-label="API token"
        value={value}
        onInput={(e) => setValue(e.currentTarget.value)}
      />
      <button type="submit" disabled={value.trim() === saved}>
        {saved !== "" && value.trim() === saved ? "Saved" : "Save"}
      </button>
    </form>
  );
}

render(<App />, document.getElementById("app")!);
