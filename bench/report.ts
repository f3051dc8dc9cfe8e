import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { SystemResult } from "./measure.js";

/** The system every ratio is taken against. */
export const REFERENCE = "graphile-tuned";

interface Metric {
  name: string;
  unit: string;
  value(result: SystemResult): number;
}

const metrics: Metric[] = [
  { name: "enqueue, batches (higher is better)", unit: "jobs/s", value: (r) => r.enqueue.jobsPerSecond },
  { name: "drain backlog (higher is better)", unit: "jobs/s", value: (r) => r.drain.jobsPerSecond },
  { name: "idle latency p50 (lower is better)", unit: "ms", value: (r) => r.latency.p50Ms },
  { name: "idle latency p99 (lower is better)", unit: "ms", value: (r) => r.latency.p99Ms },
];

export interface Row {
  system: string;
  metric: string;
  value: number;
  unit: string;
  /** value ÷ the reference system's value; undefined when the reference did not run. */
  ratio: number | undefined;
}

export function rows(results: SystemResult[]): Row[] {
  const reference = results.find((r) => r.key === REFERENCE);
  return results.flatMap((result) =>
    metrics.map((metric) => {
      const value = metric.value(result);
      const base = reference ? metric.value(reference) : undefined;
      return { system: result.key, metric: metric.name, value, unit: metric.unit, ratio: base ? value / base : undefined };
    }),
  );
}

export function formatTable(table: Row[]): string {
  const header = ["system", "metric", "value", `÷ ${REFERENCE}`];
  const body = table.map((row) => [
    row.system,
    row.metric,
    `${formatNumber(row.value)} ${row.unit}`,
    row.ratio === undefined ? "-" : `${row.ratio.toFixed(2)}x`,
  ]);
  const widths = header.map((_, i) => Math.max(header[i]!.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

function formatNumber(n: number): string {
  if (n >= 100) return Math.round(n).toLocaleString("en-US");
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function writeJson(file: string, data: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(data, null, 2) + "\n");
}
