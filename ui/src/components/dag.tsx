import type { Job } from "../../../clients/ts/src/gen/baton/v1/job_pb.js";
import { dagLayout } from "../dag-layout.js";
import { stateLabel } from "../format.js";
import { href, navigate } from "../router.js";

const NODE_W = 132;
const NODE_H = 40;
const GAP_X = 56;
const GAP_Y = 14;
const PAD = 8;
/** Room above the first row for edges that arc over the columns they skip. */
const ARC_ROOM = 20;

/**
 * A chain drawn as a graph, left to right: a box per job in its state's colour, a solid arrow
 * to each continuation its ack created, a dashed one from each blocker to its dependant. A
 * click on a box opens that job.
 */
export function DagView(props: { jobs: Job[]; current: string }) {
  const layout = dagLayout(props.jobs);
  const width = PAD * 2 + layout.layers * NODE_W + Math.max(0, layout.layers - 1) * GAP_X;
  const layerOf = new Map(layout.nodes.map((n) => [n.job.id, n.layer]));
  const arcs = layout.edges.some((e) => layerOf.get(e.to)! - layerOf.get(e.from)! > 1);
  const top = PAD + (arcs ? ARC_ROOM : 0);
  const height = top + PAD + layout.rows * NODE_H + Math.max(0, layout.rows - 1) * GAP_Y;
  const at = new Map(layout.nodes.map((n) => [n.job.id, { layer: n.layer, x: PAD + n.layer * (NODE_W + GAP_X), y: top + n.row * (NODE_H + GAP_Y) }]));
  return (
    <div class="dag-wrap">
      <svg class="dag" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="the jobs of the chain and their edges">
        <defs>
          <marker id="dag-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" orient="auto">
            <path d="M0,0 L8,4 L0,8 z" class="dag-arrowhead" />
          </marker>
        </defs>
        {layout.edges.map((edge) => {
          const a = at.get(edge.from)!;
          const b = at.get(edge.to)!;
          const [x1, y1, x2, y2] = [a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2];
          const bend = Math.max(GAP_X / 2, (x2 - x1) / 2);
          // An edge that skips columns arcs above their boxes rather than run behind them.
          const lift = b.layer - a.layer > 1 ? NODE_H : 0;
          return (
            <path
              key={`${edge.kind}:${edge.from}:${edge.to}`}
              class={`dag-edge dag-edge-${edge.kind}`}
              data-from={edge.from}
              data-to={edge.to}
              d={`M${x1},${y1} C${x1 + bend},${y1 - lift} ${x2 - bend},${y2 - lift} ${x2},${y2}`}
              marker-end="url(#dag-arrow)"
            />
          );
        })}
        {layout.nodes.map(({ job }) => {
          const { x, y } = at.get(job.id)!;
          const label = stateLabel(job);
          return (
            <g
              key={job.id}
              class={`dag-node state-${label.toLowerCase()}${job.id === props.current ? " current" : ""}`}
              data-job-id={job.id}
              transform={`translate(${x},${y})`}
              onClick={() => navigate(href(`jobs/${job.id}`))}
            >
              <title>{`job ${job.id} · ${job.queue} · ${label}`}</title>
              <rect width={NODE_W} height={NODE_H} rx="6" />
              <text x="8" y="16" class="dag-id">
                #{job.id}
              </text>
              <text x="8" y="31" class="dag-sub">
                {clip(`${label.toLowerCase()} · ${job.queue}`, 20)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
