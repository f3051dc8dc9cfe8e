import { timestampMs } from "@bufbuild/protobuf/wkt";
import { useState } from "preact/hooks";
import type { QueueHistoryPoint } from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { api } from "../api.js";
import { usePoll } from "../poll.js";
import { ErrorBanner, Loading } from "./common.js";

/** The broker adds each replica's counts every few seconds (BATON_HISTORY_FLUSH_SECONDS). */
const HISTORY_POLL_MS = 10_000;

const WINDOWS = [
  { label: "1h", seconds: 3600n },
  { label: "24h", seconds: 86_400n },
  { label: "7d", seconds: 604_800n },
] as const;

/** The series drawn as stacked bars, bottom up, and the enqueued line. */
const SERIES = ["succeeded", "retried", "dead", "cancelled"] as const;
type Count = (typeof SERIES)[number] | "enqueued";

/** The drawing's own units; it stretches to the card's width. */
const W = 640;
const H = 140;

/**
 * Jobs per step of one queue (or all) from GetQueueHistory: kept by the broker, so the chart
 * is the same after a reload, on any replica, and covers what happened while no page was open.
 */
export function HistoryChart(props: { queue?: string }) {
  const [window, setWindow] = useState<(typeof WINDOWS)[number]>(WINDOWS[0]);
  const history = usePoll(
    (signal) => api.queues.getQueueHistory({ queue: props.queue ?? "", window: { seconds: window.seconds } }, { signal }),
    [props.queue, window.seconds],
    HISTORY_POLL_MS,
  );
  const points = history.data?.points ?? [];
  const total = (key: Count) => points.reduce((n, p) => n + Number(p[key]), 0);
  const finished = total("succeeded") + total("dead");
  return (
    <div class="history" data-queue={props.queue ?? ""}>
      <div class="history-head">
        <span class="history-totals">
          {(["enqueued", ...SERIES] as const).map((key) => (
            <span key={key} class={`history-total history-${key}`} data-count={key} data-value={total(key)}>
              <b>{total(key).toLocaleString()}</b> {key}
            </span>
          ))}
          <span class="history-total" data-count="failure-rate" title="dead among finished (succeeded + dead)">
            <b>{finished === 0 ? "—" : `${Math.round((total("dead") / finished) * 100)}%`}</b> failed
          </span>
        </span>
        <span class="history-windows" role="group" aria-label="window">
          {WINDOWS.map((w) => (
            <button key={w.label} type="button" class={w === window ? "active" : ""} onClick={() => setWindow(w)}>
              {w.label}
            </button>
          ))}
        </span>
      </div>
      <ErrorBanner error={history.error} />
      {history.data === undefined ? (history.error ? null : <Loading />) : <Bars points={points} />}
    </div>
  );
}

function Bars(props: { points: QueueHistoryPoint[] }) {
  const { points } = props;
  const stack = (p: QueueHistoryPoint) => SERIES.reduce((n, key) => n + Number(p[key]), 0);
  const max = Math.max(1, ...points.map(stack), ...points.map((p) => Number(p.enqueued)));
  const slot = W / Math.max(points.length, 1);
  const y = (v: number) => H - (v / max) * (H - 4);
  const line = points.map((p, i) => `${(i * slot + slot / 2).toFixed(1)},${y(Number(p.enqueued)).toFixed(1)}`).join(" ");
  const time = (p: QueueHistoryPoint | undefined) => (p?.startTime ? new Date(timestampMs(p.startTime)).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "");
  return (
    <>
      <svg class="history-chart" viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label="jobs per step" data-points={points.length}>
        <line class="history-axis" x1="0" x2={W} y1={H} y2={H} />
        {points.map((p, i) => {
          let base = 0;
          const label = `${time(p)}: ${(["enqueued", ...SERIES] as const).map((k) => `${p[k]} ${k}`).join(", ")}`;
          return (
            <g key={i}>
              <title>{label}</title>
              {SERIES.map((key) => {
                const v = Number(p[key]);
                if (v === 0) return null;
                const top = y(base + v);
                const bottom = y(base);
                base += v;
                return <rect key={key} class={`history-bar history-${key}`} x={i * slot + 0.5} width={Math.max(slot - 1, 0.5)} y={top} height={bottom - top} />;
              })}
            </g>
          );
        })}
        {points.length > 1 ? <polyline class="history-enqueued-line" points={line} /> : null}
      </svg>
      <div class="history-labels">
        <span>{time(points[0])}</span>
        <span>
          top: {max.toLocaleString()} per step · bars: succeeded, retried, dead, cancelled · line: enqueued
        </span>
        <span>now</span>
      </div>
    </>
  );
}
