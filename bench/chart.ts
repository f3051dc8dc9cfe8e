import type { Row } from "./report.js";

const COLORS: Record<string, string> = {
  "sql-floor": "#888888",
  baton: "#1f6feb",
  "graphile-tuned": "#d97706",
  "graphile-default": "#f5b041",
  "pgboss-tuned": "#7c3aed",
};

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function label(value: number, unit: string): string {
  const n = value >= 100 ? Math.round(value).toLocaleString("en-US") : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${n} ${unit}`;
}

/**
 * The table as a plain SVG: one panel per metric, one horizontal bar per system, scaled to the
 * largest value of the panel (metrics have different units, so panels do not share a scale).
 * No dependencies: the bench writes it next to latest.json.
 */
export function renderChart(table: Row[], subtitle: string): string {
  const metrics = [...new Set(table.map((row) => row.metric))];
  const width = 760;
  const labelWidth = 130;
  const barArea = width - labelWidth - 150;
  const barHeight = 16;
  const gap = 4;
  const parts: string[] = [];
  let y = 48;
  for (const metric of metrics) {
    const group = table.filter((row) => row.metric === metric);
    const max = Math.max(...group.map((row) => row.value), 1e-9);
    parts.push(`<text x="10" y="${y}" font-weight="bold">${escape(metric)}</text>`);
    y += 8;
    for (const row of group) {
      const w = Math.max(1, (row.value / max) * barArea);
      const ratio = row.ratio === undefined || row.system === "graphile-tuned" ? "" : ` (${row.ratio.toFixed(2)}x)`;
      parts.push(
        `<text x="${labelWidth - 6}" y="${y + barHeight - 4}" text-anchor="end">${escape(row.system)}</text>`,
        `<rect x="${labelWidth}" y="${y}" width="${w.toFixed(1)}" height="${barHeight}" fill="${COLORS[row.system] ?? "#444"}"/>`,
        `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + barHeight - 4}">${escape(label(row.value, row.unit) + ratio)}</text>`,
      );
      y += barHeight + gap;
    }
    y += 22;
  }
  const height = y;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">Baton bench: ratios to graphile-tuned in parentheses</text>`,
    `<text x="10" y="36" fill="#555">${escape(subtitle)}</text>`,
    ...parts,
    `</svg>`,
    "",
  ].join("\n");
}
