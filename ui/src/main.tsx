// The Baton dashboard: a single page served by the broker at /ui, talking to the broker's
// Connect API from the browser. Every view polls, so it stays live without reloads.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { MAX_PAGE_SIZE, allPages } from "../../clients/ts/src/pages.js";
import { type UiConfig, api, getToken, loadConfig, setToken } from "./api.js";
import { errorText } from "./components/common.js";
import { DeadPage } from "./pages/dead.js";
import { JobPage } from "./pages/job.js";
import { JobsPage } from "./pages/jobs.js";
import { QueuePage } from "./pages/queue.js";
import { QueuesPage } from "./pages/queues.js";
import { SchedulesPage } from "./pages/schedules.js";
import { WorkersPage } from "./pages/workers.js";
import { type Permissions, permissionsOf } from "./permissions.js";
import { usePoll } from "./poll.js";
import { matchRoute } from "./routes.js";
import { href, onLinkClick, useLocation } from "./router.js";
import "./styles.css";

/** The queue list feeds the overview, the filters and the dead-letter count. */
const QUEUES_POLL_MS = 2000;
/** The token's role is read again this often (a token may be revoked or replaced). */
const ROLE_POLL_MS = 60_000;

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
  const [tokenVersion, setTokenVersion] = useState(0);
  const queues = usePoll(
    async (signal) => {
      const queues = await allPages((pageToken) => api.queues.listQueues({ pageSize: MAX_PAGE_SIZE, pageToken }, { signal }), (page) => page.queues);
      return { queues, at: new Date() };
    },
    [tokenVersion],
    QUEUES_POLL_MS,
  );
  const token = usePoll((signal) => api.tokens.getCurrentToken({}, { signal }), [tokenVersion], ROLE_POLL_MS);
  const can = permissionsOf(token.data, token.error);
  useEffect(() => void loadConfig().then(setConfig), []);

  const route = matchRoute(location.path);
  const section = location.path.split("/")[0] ?? "";
  const deadCount = (queues.data?.queues ?? []).reduce((n, q) => n + Number(q.dead), 0);

  let page;
  switch (route.name) {
    case "job":
      page = <JobPage id={route.params.id!} config={config} can={can} />;
      break;
    case "queue":
      page = <QueuePage name={route.params.queue!} canChange={can.admin} />;
      break;
    case "jobs":
      page = <JobsPage location={location} queues={queues.data?.queues} can={can} />;
      break;
    case "dead":
      page = <DeadPage location={location} queues={queues.data?.queues} refreshQueues={queues.refresh} can={can} />;
      break;
    case "schedules":
      page = <SchedulesPage canChange={can.admin} />;
      break;
    case "workers":
      page = <WorkersPage />;
      break;
    case "queues":
      page = <QueuesPage queues={queues.data?.queues} error={queues.error} refresh={queues.refresh} canChange={can.admin} />;
      break;
  }

  return (
    <div class="app" onClick={onLinkClick}>
      <header class="top">
        <a class="brand" href={href("")}>
          Baton
        </a>
        <nav>
          {NAV.map((item) => (
            <a key={item.path} href={href(item.path)} class={section === item.path || (item.path === "" && section === "queues") ? "active" : ""}>
              {item.label}
              {item.path === "dead" && deadCount > 0 ? <span class="pill">{deadCount}</span> : null}
            </a>
          ))}
        </nav>
        <LiveStatus error={queues.error} at={queues.data?.at} />
        <RoleBadge can={can} />
        <TokenField onSaved={() => setTokenVersion((v) => v + 1)} />
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

/** The token's role, when the broker checks tokens; a viewer is told the dashboard is read-only. */
function RoleBadge(props: { can: Permissions }) {
  const { role } = props.can;
  if (role === undefined) return null;
  return (
    <span class={`role role-${role}`} data-role={role} title={props.can.changeJobs ? undefined : "this token may read everything and change nothing"}>
      {role}
      {props.can.changeJobs ? "" : " · read-only"}
    </span>
  );
}

/** The API token, kept in localStorage and sent as `Authorization: Bearer` on every call. */
function TokenField(props: { onSaved(): void }) {
  const [value, setValue] = useState(getToken);
  const [saved, setSaved] = useState(getToken);
  return (
    <form
      class="token"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(value.trim());
        setSaved(value.trim());
        props.onSaved();
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
