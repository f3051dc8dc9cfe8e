/** A tiny SVG line chart of the last values, newest on the right. */
export function Sparkline(props: { values: readonly number[]; max?: number; label: string; format: (v: number) => string; tone?: "ok" | "bad" }) {
  const { values, label, format } = props;
  const width = 96;
  const height = 26;
  const latest = values.length > 0 ? values[values.length - 1]! : undefined;
  const max = Math.max(props.max ?? 0, ...values, 1e-9);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 3)).toFixed(1)}`);
  return (
    <span class={`spark spark-${props.tone ?? "ok"}`} title={`${label}: ${latest === undefined ? "collecting samples" : format(latest)}`}>
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
        {points.length > 1 ? (
          <>
            <polygon class="spark-area" points={`0,${height} ${points.join(" ")} ${width},${height}`} />
            <polyline class="spark-line" points={points.join(" ")} />
          </>
        ) : (
          <line class="spark-empty" x1="0" x2={width} y1={height - 1} y2={height - 1} />
        )}
      </svg>
      <span class="spark-value">{latest === undefined ? "…" : format(latest)}</span>
    </span>
  );
}
