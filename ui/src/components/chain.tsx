import type { Job } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { type ChainNode, chainTree } from "../chain-tree.js";
import { formatDurationMs, formatTime, stateLabel, toMs } from "../format.js";
import { href } from "../router.js";
import { StateBadge } from "./common.js";

/**
 * A chain as a tree (a continuation hangs under the job whose ack created it, a job with
 * depends_on under its first blocker in the chain, any other job under the chain's root) with
 * a timeline column: each bar spans a job's creation to its finish (or now), on one time axis
 * for the whole chain.
 */
export function ChainView(props: { jobs: Job[]; rootId: string; current: string; truncated: boolean }) {
  const nodes = chainTree(props.jobs, props.rootId);
  const now = Date.now();
  const starts = props.jobs.map((j) => toMs(j.createTime) ?? now);
  const ends = props.jobs.map((j) => toMs(j.finishTime) ?? now);
  const t0 = Math.min(...starts);
  const span = Math.max(Math.max(...ends) - t0, 1);
  return (
    <>
      <div class="table-wrap">
        <table class="chain">
          <thead>
            <tr>
              <th>Job</th>
              <th>State</th>
              <th class="timeline-head">
                Timeline <span class="muted">({formatDurationMs(span)} from the first enqueue)</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {nodes.map(({ job, depth, link }) => {
              const start = toMs(job.createTime) ?? now;
              const end = toMs(job.finishTime) ?? now;
              const left = ((start - t0) / span) * 100;
              const width = Math.max(((end - start) / span) * 100, 0.8);
              return (
                <tr key={job.id} class={job.id === props.current ? "current" : ""} data-job-id={job.id}>
                  <td class="tree" style={{ paddingLeft: `${0.5 + depth * 1.4}rem` }}>
                    {depth > 0 ? <span class="tree-link">{LINK_MARK[link]} </span> : null}
                    <a href={href(`jobs/${job.id}`)}>#{job.id}</a> <span class="muted">{job.queue}</span>
                  </td>
                  <td>
                    <StateBadge job={job} />
                  </td>
                  <td class="timeline">
                    <span
                      class={`bar state-${stateLabel(job).toLowerCase()}`}
                      style={{ left: `${left}%`, width: `${Math.min(width, 100 - left)}%` }}
                      title={`${formatTime(job.createTime)} → ${job.finishTime ? formatTime(job.finishTime) : "now"}`}
                    />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p class="muted small">
        ↳ created by its parent's ack (continue_with) · ⇢ waited on its parent (depends_on) · ∙ enqueued into the chain (chain_id)
        {props.truncated ? " · only the first 1000 jobs of the chain are shown" : ""}
      </p>
    </>
  );
}

const LINK_MARK: Record<ChainNode["link"], string> = { root: "", continues: "↳", depends: "⇢", member: "∙" };
