import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { FloorResult } from "./extras.js";
import type { SystemResult } from "./measure.js";

/** The system every ratio is taken against. */
export const REFERENCE = "graphile-tuned";

interface Metric {
  name: string;
  unit: string;
  value(result: SystemResult): number | undefined;
  /** The SQL floor's value for this metric, when it has one. */
  floor?(floor: FloorResult): number;
}

const metrics: Metric[] = [
  { name: "enqueue, batches (higher is better)", unit: "jobs/s", value: (r) => r.enqueue.jobsPerSecond, floor: (f) => f.enqueueJobsPerSecond },
  { name: "drain backlog (higher is better)", unit: "jobs/s", value: (r) => r.drain.jobsPerSecond, floor: (f) => f.drainJobsPerSecond },
  { name: "idle latency p50 (lower is better)", unit: "ms", value: (r) => r.latency.p50Ms },
  { name: "idle latency p99 (lower is better)", unit: "ms", value: (r) => r.latency.p99Ms },
  { name: "mixed load, handled (higher is better)", unit: "jobs/s", value: (r) => r.mixed.handledPerSecond },
  { name: "mixed-load latency p50 (lower is better)", unit: "ms", value: (r) => r.mixed.latency.p50Ms },
  { name: "mixed-load latency p99 (lower is better)", unit: "ms", value: (r) => r.mixed.latency.p99Ms },
  { name: "broker RSS, 10k in flight (lower is better)", unit: "MB", value: (r) => r.scale?.inFlight.rssMb },
  { name: "1,000 streams x 1 in flight, drain", unit: "jobs/s", value: (r) => r.scale?.streams.jobsPerSecond },
  { name: "drain, 1M finished jobs in db (higher is better)", unit: "jobs/s", value: (r) => r.storeScale?.history.drain.jobsPerSecond },
  { name: "idle latency p50, 1M waiting (lower is better)", unit: "ms", value: (r) => r.storeScale?.backlog.latency.p50Ms },
  { name: "idle latency p99, 1M waiting (lower is better)", unit: "ms", value: (r) => r.storeScale?.backlog.latency.p99Ms },
];

export interface Row {
  system: string;
  /** Release measured (PostgreSQL's for the SQL floor). */
  version: string;
  metric: string;
  value: number;
  unit: string;
  /** value ÷ the reference system's value; undefined when the reference did not run. */
  ratio: number | undefined;
  /** value ÷ the SQL floor's value, for the metrics the floor has. */
  floorRatio: number | undefined;
}

export const FLOOR_KEY = "sql-floor";

export function rows(results: SystemResult[], floor?: FloorResult): Row[] {
  const reference = results.find((r) => r.key === REFERENCE);
  const table: Row[] = [];
  if (floor) {
    for (const metric of metrics) {
      if (!metric.floor) continue;
      const value = metric.floor(floor);
      const base = reference ? metric.value(reference) : undefined;
      table.push({ system: FLOOR_KEY, version: `PostgreSQL ${floor.postgresVersion}`, metric: metric.name, value, unit: metric.unit, ratio: base ? value / base : undefined, floorRatio: 1 });
    }
  }
  for (const result of results) {
    for (const metric of metrics) {
      const value = metric.value(result);
      if (value === undefined) continue;
      const base = reference ? metric.value(reference) : undefined;
      const floorValue = floor && metric.floor ? metric.floor(floor) : undefined;
      table.push({
        system: result.key,
        version: result.version,
        metric: metric.name,
        value,
        unit: metric.unit,
        ratio: base ? value / base : undefined,
        floorRatio: floorValue ? value / floorValue : undefined,
      });
    }
  }
  return table;
}

export interface Target {
  target: string;
  actual: string;
  met: boolean;
}

/**
 * Issue 14's targets for Baton, as ratios in this run; a target whose inputs did not run is left
 * out. `doneMeans` marks the floor below which the issue stays open (drain >= 1.0x graphile-tuned,
 * idle p50 <= 3 ms); the others may be reported as misses.
 */
export function targets(results: SystemResult[], floor?: FloorResult): Target[] {
  const baton = results.find((r) => r.key === "baton");
  if (!baton) return [];
  const reference = results.find((r) => r.key === REFERENCE);
  const out: Target[] = [];
  const x = (n: number) => `${n.toFixed(2)}x`;
  if (reference) {
    const drain = baton.drain.jobsPerSecond / reference.drain.jobsPerSecond;
    out.push({ target: `drain (TypeScript client) >= 1.2x ${REFERENCE}`, actual: x(drain), met: drain >= 1.2 });
    const enqueue = baton.enqueue.jobsPerSecond / reference.enqueue.jobsPerSecond;
    out.push({ target: `batched enqueue >= 1.0x graphile-worker addJobs (${REFERENCE})`, actual: x(enqueue), met: enqueue >= 1 });
  }
  if (floor) {
    const drain = baton.drain.jobsPerSecond / floor.drainJobsPerSecond;
    out.push({ target: "drain (TypeScript client) >= 0.5x the SQL floor", actual: x(drain), met: drain >= 0.5 });
  }
  out.push({ target: "idle latency p50 <= 2 ms", actual: `${baton.latency.p50Ms} ms`, met: baton.latency.p50Ms <= 2 });
  out.push({ target: "idle latency p99 <= 5 ms", actual: `${baton.latency.p99Ms} ms`, met: baton.latency.p99Ms <= 5 });
  if (baton.storeScale) {
    const { rows, history } = baton.storeScale;
    out.push({
      target: "drain with 1M finished jobs in the db >= 0.9x the drain on an empty db",
      actual: `${x(history.ratioToEmpty)} (${formatNumber(history.drain.jobsPerSecond)} vs ${formatNumber(baton.drain.jobsPerSecond)} jobs/s, ${rows} finished jobs)`,
      met: history.ratioToEmpty >= 0.9 && rows >= 1_000_000,
    });
  }
  if (baton.scale) {
    const { inFlight, streams } = baton.scale;
    out.push({ target: "broker RSS <= 200 MB with 10k jobs in flight", actual: `${inFlight.rssMb.toFixed(0)} MB with ${inFlight.held} held (idle ${baton.scale.idleRssMb.toFixed(0)} MB)`, met: inFlight.rssMb <= 200 && inFlight.held >= 10_000 });
    out.push({
      target: "one broker serves 1,000 concurrent worker streams",
      actual: `${streams.streams} streams in ${streams.processes} processes: ${streams.handled}/${streams.jobs} jobs, ${streams.workersWithJobs} streams got jobs, ${streams.errors} errors${streams.lastError ? ` (last: ${streams.lastError})` : ""}, RSS ${streams.rssMb.toFixed(0)} MB`,
      met: streams.ok && streams.streams >= 1000,
    });
  }
  return out;
}

/** Issue 14's "done means": the floor below which the issue is not resolved. */
export function doneMeans(results: SystemResult[]): Target[] {
  const baton = results.find((r) => r.key === "baton");
  const reference = results.find((r) => r.key === REFERENCE);
  if (!baton) return [];
  const out: Target[] = [];
  if (reference) {
    const drain = baton.drain.jobsPerSecond / reference.drain.jobsPerSecond;
    out.push({ target: `drain (TypeScript client) >= 1.0x ${REFERENCE}`, actual: `${drain.toFixed(2)}x`, met: drain >= 1 });
  }
  out.push({ target: "idle latency p50 <= 3 ms", actual: `${baton.latency.p50Ms} ms`, met: baton.latency.p50Ms <= 3 });
  return out;
}

/** The mixed-load phase in one line: what was offered, what was handled, whether it kept up. */
export function describeMixed({ mixed }: SystemResult): string {
  const keptUp = mixed.keptUp ? "kept up" : "fell behind";
  return (
    `mixed load: ${formatNumber(mixed.offeredPerSecond)} jobs/s offered for ${mixed.seconds} s, ${formatNumber(mixed.handledPerSecond)} handled/s in that window, ` +
    `${keptUp} (${mixed.backlogAtEnd} jobs waiting at its end, all ${mixed.jobs} finished ${mixed.catchUpSeconds.toFixed(2)} s later); ` +
    `latency p50 ${mixed.latency.p50Ms} ms, p99 ${mixed.latency.p99Ms} ms, max ${mixed.latency.maxMs} ms ` +
    `(of which the enqueue call p50 ${mixed.enqueueCall.p50Ms} ms, p99 ${mixed.enqueueCall.p99Ms} ms)`
  );
}

/** The scale phase in one line, each number next to its empty-database value of the same run. */
export function describeStoreScale(result: SystemResult): string | undefined {
  const scale = result.storeScale;
  if (!scale) return undefined;
  const { history, backlog } = scale;
  return (
    `scale: with ${scale.rows} finished jobs in the db, drain ${formatNumber(history.drain.jobsPerSecond)} jobs/s = ${history.ratioToEmpty.toFixed(2)}x the empty db ` +
    `(${formatNumber(result.drain.jobsPerSecond)}); with ${scale.rows} jobs waiting in another queue, idle latency p50 ${backlog.latency.p50Ms} ms, p99 ${backlog.latency.p99Ms} ms ` +
    `(empty db: p50 ${result.latency.p50Ms} ms, p99 ${result.latency.p99Ms} ms); seeding took ${history.seedSeconds.toFixed(0)} s and ${backlog.seedSeconds.toFixed(0)} s`
  );
}

export function formatTable(table: Row[]): string {
  const header = ["system", "metric", "value", `÷ ${REFERENCE}`, `÷ ${FLOOR_KEY}`];
  const body = table.map((row) => [
    `${row.system} ${row.version}`,
    row.metric,
    `${formatNumber(row.value)} ${row.unit}`,
    row.ratio === undefined ? "-" : `${row.ratio.toFixed(2)}x`,
    row.floorRatio === undefined ? "-" : `${row.floorRatio.toFixed(2)}x`,
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

export function writeChart(file: string, svg: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, svg);
}
