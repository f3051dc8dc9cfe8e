import { durationMs } from "@bufbuild/protobuf/wkt";
import type { ComponentChildren } from "preact";
import { useState } from "preact/hooks";
import { type Job, JobState } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { type UiConfig, api } from "../api.js";
import { Empty, ErrorBanner, Loading, Progress, Section, StateBadge } from "../components/common.js";
import { Blockers } from "../components/blockers.js";
import { ChainView } from "../components/chain.js";
import { DagView } from "../components/dag.js";
import type { Permissions } from "../permissions.js";
import { formatBytes, formatDurationMs, formatLabels, formatRelative, formatTime, traceIdOf, traceUrl } from "../format.js";
import { usePoll } from "../poll.js";
import { href, navigate } from "../router.js";

const FINISHED = new Set([JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED]);

/** Most jobs a chain view loads (one ListJobs page). */
const CHAIN_LIMIT = 1000;
/** Most jobs drawn as a graph: beyond it the boxes are too many to read, and the tree says more. */
const GRAPH_LIMIT = 200;

export function JobPage(props: { id: string; config: UiConfig; can: Permissions }) {
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<unknown>();
  const job = usePoll((signal) => api.jobs.getJob({ id: props.id }, { signal }).then((r) => r.job), [props.id]);
  const chainId = job.data ? job.data.chainId || job.data.id : undefined;
  const chain = usePoll(
    async (signal) => (chainId ? (await api.jobs.listJobs({ chainId, pageSize: CHAIN_LIMIT }, { signal })) : undefined),
    [chainId],
  );

  const act = async (action: () => Promise<unknown>) => {
    setBusy(true);
    setActionError(undefined);
    try {
      await action();
      job.refresh();
      chain.refresh();
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  };

  if (job.data === undefined) {
    return (
      <Section title={`Job ${props.id}`}>
        <ErrorBanner error={job.error} />
        {job.error ? null : <Loading />}
      </Section>
    );
  }
  const j = job.data;
  const chainJobs = chain.data?.jobs ?? [];
  const root = chainJobs.find((c) => c.id === chainId) ?? (j.id === chainId ? j : undefined);
  const trace = traceUrl(props.config.traceUrlTemplate, {
    chainId: chainId!,
    jobId: j.id,
    queue: j.queue,
    traceId: traceIdOf(root?.headers ?? {}) ?? traceIdOf(j.headers),
  });
  const retryable = props.can.changeJobs && (j.state === JobState.DEAD || j.state === JobState.CANCELLED);
  const cancellable = props.can.changeJobs && !FINISHED.has(j.state) && !j.cancelRequested;
  // DeleteJob refuses a running job: no button while it is leased.
  const deletable = props.can.changeJobs && j.state !== JobState.LEASED;

  return (
    <>
      <Section
        title={
          <>
            Job {j.id} <StateBadge job={j} />
          </>
        }
        actions={
          <>
            {trace ? (
              <a class="button" href={trace} target="_blank" rel="noreferrer">
                View trace ↗
              </a>
            ) : null}
            {retryable ? (
              <button type="button" class="retry" disabled={busy} onClick={() => void act(() => api.jobs.retryJob({ id: j.id }))}>
                Retry
              </button>
            ) : null}
            {cancellable ? (
              <button
                type="button"
                class="danger"
                disabled={busy}
                onClick={() => window.confirm(`Cancel job ${j.id}?`) && void act(() => api.jobs.cancelJob({ id: j.id }))}
              >
                Cancel
              </button>
            ) : null}
            {deletable ? (
              <button
                type="button"
                class="danger delete"
                disabled={busy}
                onClick={() =>
                  window.confirm(`Delete job ${j.id}? It is gone for good.`) &&
                  void act(async () => {
                    await api.jobs.deleteJob({ id: j.id });
                    navigate(href("jobs", { queue: j.queue }));
                  })
                }
              >
                Delete
              </button>
            ) : null}
          </>
        }
      >
        <ErrorBanner error={actionError ?? job.error} />
        <dl class="facts">
          <Fact name="Queue">
            <a href={href("jobs", { queue: j.queue })}>{j.queue}</a>
          </Fact>
          <Fact name="Attempt">
            {j.attempt} of {j.maxAttempts}
          </Fact>
          <Fact name="Priority">{j.priority}</Fact>
          <Fact name="Created">{formatTime(j.createTime)}</Fact>
          <Fact name={FINISHED.has(j.state) ? "Ran at" : "Runs at"}>
            {formatTime(j.runTime)} <span class="muted">({formatRelative(j.runTime)})</span>
          </Fact>
          <Fact name="Finished">{formatTime(j.finishTime)}</Fact>
          {j.leaseExpireTime ? <Fact name="Lease expires">{formatRelative(j.leaseExpireTime)}</Fact> : null}
          {j.timeout ? <Fact name="Timeout">{formatDurationMs(durationMs(j.timeout))}</Fact> : null}
          {j.dedupKey ? <Fact name="Dedup key">{j.dedupKey}</Fact> : null}
          {j.fairnessKey ? <Fact name="Fairness key">{j.fairnessKey}</Fact> : null}
          {Object.keys(j.workerLabels).length > 0 ? <Fact name="Worker labels">{formatLabels(j.workerLabels)}</Fact> : null}
          <Fact name="Chain">
            <a href={href("jobs", { chain: chainId })}>{chainId}</a>
          </Fact>
          {j.parentId ? (
            <Fact name="Parent">
              <a href={href(`jobs/${j.parentId}`)}>{j.parentId}</a>
            </Fact>
          ) : null}
          {j.dependsOn.length > 0 ? (
            <Fact name="Depends on">
              {j.dependsOn.map((id, i) => (
                <span key={id}>
                  {i > 0 ? ", " : ""}
                  <a href={href(`jobs/${id}`)}>{id}</a>
                </span>
              ))}
            </Fact>
          ) : null}
          {j.cancelRequested ? <Fact name="Cancel">requested</Fact> : null}
        </dl>
        {j.progressPercent > 0 || j.progressMessage ? (
          <div class="job-progress">
            <h3>Progress</h3>
            <Progress percent={j.progressPercent} message={j.progressMessage} />
          </div>
        ) : null}
      </Section>

      {j.dependsOn.length > 0 ? (
        <Section title="Blockers" id="blockers">
          <Blockers ids={j.dependsOn} />
        </Section>
      ) : null}

      <div class="grid-2">
        <Section title="Payload">
          <Bytes bytes={j.payload} id="payload" />
        </Section>
        <Section title="Result">
          <Bytes bytes={j.result} id="result" empty={FINISHED.has(j.state) ? "No result." : "No result yet."} />
        </Section>
      </div>

      <div class="grid-2">
        <Section title="Headers">
          <Headers job={j} />
        </Section>
        <Section title="Errors">
          <Errors job={j} />
        </Section>
      </div>

      <Section
        title="Chain"
        actions={
          trace ? (
            <a href={trace} target="_blank" rel="noreferrer">
              trace of chain {chainId} ↗
            </a>
          ) : (
            <span class="muted" title="Set BATON_UI_TRACE_URL_TEMPLATE on the broker">
              no trace URL configured
            </span>
          )
        }
      >
        <ErrorBanner error={chain.error} />
        {chain.data === undefined ? (
          <Loading />
        ) : (
          <>
            {chainJobs.length <= GRAPH_LIMIT ? (
              <>
                <DagView jobs={chainJobs.length > 0 ? chainJobs : [j]} current={j.id} />
                <p class="muted small">→ continuation created by an ack (continue_with) · ⇢ dependant waiting on its blocker (depends_on)</p>
              </>
            ) : (
              <p class="muted small">The graph is drawn for chains of up to {GRAPH_LIMIT} jobs; the tree below lists them all.</p>
            )}
            <ChainView jobs={chainJobs.length > 0 ? chainJobs : [j]} rootId={chainId!} current={j.id} truncated={chain.data.nextPageToken !== ""} />
          </>
        )}
      </Section>
    </>
  );
}

function Fact(props: { name: string; children: ComponentChildren }) {
  return (
    <div class="fact">
      <dt>{props.name}</dt>
      <dd>{props.children}</dd>
    </div>
  );
}

function Bytes(props: { bytes: Uint8Array; id: string; empty?: string }) {
  const { text, kind } = formatBytes(props.bytes);
  if (kind === "empty") return <Empty>{props.empty ?? "Empty."}</Empty>;
  return (
    <>
      <pre class={`code code-${kind}`} id={props.id}>
        {text}
      </pre>
      <p class="muted small">
        {props.bytes.length.toLocaleString()} bytes · {kind === "json" ? "JSON, pretty-printed" : kind === "text" ? "UTF-8 text" : "binary, shown as hex"}
      </p>
    </>
  );
}

function Headers(props: { job: Job }) {
  const entries = Object.entries(props.job.headers).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return <Empty>No headers.</Empty>;
  return (
    <table class="kv">
      <tbody>
        {entries.map(([key, value]) => (
          <tr key={key}>
            <th>{key}</th>
            <td class="mono">{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Errors(props: { job: Job }) {
  const { errors, lastError } = props.job;
  if (errors.length === 0 && !lastError) return <Empty>No failed attempts.</Empty>;
  const list = errors.length > 0 ? [...errors].sort((a, b) => b.attempt - a.attempt) : [];
  return (
    <table class="errors">
      <thead>
        <tr>
          <th class="num">Attempt</th>
          <th>When</th>
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        {list.map((e, i) => (
          <tr key={i}>
            <td class="num">{e.attempt}</td>
            <td title={formatTime(e.time)}>{formatRelative(e.time)}</td>
            <td>
              <pre class="error-text">{e.message}</pre>
            </td>
          </tr>
        ))}
        {list.length === 0 ? (
          <tr>
            <td class="num">{props.job.attempt}</td>
            <td>—</td>
            <td>
              <pre class="error-text">{lastError}</pre>
            </td>
          </tr>
        ) : null}
      </tbody>
    </table>
  );
}
