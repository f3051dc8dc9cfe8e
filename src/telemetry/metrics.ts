import type http from "node:http";
import { WORKER_STALE_SECONDS } from "../broker/lease-keeper.js";
import type { Database } from "../store/database.js";
import {
  type CounterRow,
  telemetryCounters,
  telemetryHistogramBounds,
  telemetryJobCounts,
  telemetryOutboxRows,
  telemetryWorkerStreams,
} from "../store/telemetry.js";
import type { Logger } from "./log.js";

/**
 * Prometheus metrics, read from the database at scrape time. The counters and histograms are
 * kept by triggers in the transaction of each state change (migration 0005), so they cover
 * every replica and every path, and a rolled-back transaction counts nothing: any replica's
 * /metrics reports the same cluster-wide values.
 */

type MetricType = "counter" | "gauge" | "histogram";

interface Sample {
  /** Appended to the family name: _bucket, _sum, _count, or nothing. */
  suffix?: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** The text exposition format (version 0.0.4). */
export function formatExposition(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels)
        .map(([key, value]) => `${key}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`)
        .join(",");
      lines.push(`${family.name}${sample.suffix ?? ""}${labels ? `{${labels}}` : ""} ${formatValue(sample.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

const STATES = ["scheduled", "available", "blocked", "leased", "succeeded", "dead", "cancelled"];
const OUTCOMES = ["succeeded", "dead", "cancelled"];

const counterFamilies: { key: string; name: string; help: string; label?: string; values?: string[] }[] = [
  { key: "jobs_enqueued_total", name: "baton_jobs_enqueued_total", help: "Jobs created (enqueues, continuations, cron), per queue." },
  {
    key: "jobs_finished_total",
    name: "baton_jobs_finished_total",
    help: "Jobs that reached an end state, per queue and outcome (succeeded, dead, cancelled).",
    label: "outcome",
    values: OUTCOMES,
  },
  { key: "jobs_retried_total", name: "baton_jobs_retried_total", help: "Failed attempts that went back to the queue for another try, per queue." },
  {
    key: "leases_expired_total",
    name: "baton_leases_expired_total",
    help: "Attempts that failed after their lease expired (a lost worker or replica, or a timeout), per queue.",
  },
];

const histogramFamilies = [
  {
    key: "job_run_duration_seconds",
    name: "baton_job_run_duration_seconds",
    help: "How long attempts ran, from claim to ack, nack or expiry, per queue.",
  },
  {
    key: "job_queue_wait_seconds",
    name: "baton_job_queue_wait_seconds",
    help: "How long due jobs waited for a worker, from their run time (or unblocking) to the claim, per queue.",
  },
];

/** Everything /metrics shows, from a few aggregate queries. */
export async function collectMetrics(db: Database): Promise<MetricFamily[]> {
  const [counters, bounds, jobCounts, streams, outboxRows] = await Promise.all([
    telemetryCounters(db),
    telemetryHistogramBounds(db),
    telemetryJobCounts(db),
    telemetryWorkerStreams(db, WORKER_STALE_SECONDS),
    telemetryOutboxRows(db),
  ]);
  const byName = new Map<string, CounterRow[]>();
  for (const row of counters) {
    const rows = byName.get(row.name) ?? [];
    rows.push(row);
    byName.set(row.name, rows);
  }
  const families: MetricFamily[] = [];

  for (const spec of counterFamilies) {
    const rows = byName.get(spec.key) ?? [];
    const samples: Sample[] = [];
    if (spec.label) {
      // Every outcome of every queue seen, zeros included, so rates and ratios need no `or`.
      for (const queue of sortedQueues(rows)) {
        for (const value of spec.values!) {
          const row = rows.find((r) => r.queue === queue && r.label === value);
          samples.push({ labels: { queue, [spec.label]: value }, value: row?.value ?? 0 });
        }
      }
    } else {
      for (const row of sortBy(rows)) samples.push({ labels: { queue: row.queue }, value: row.value });
    }
    families.push({ name: spec.name, help: spec.help, type: "counter", samples });
  }

  for (const spec of histogramFamilies) {
    const rows = byName.get(spec.key) ?? [];
    const samples: Sample[] = [];
    for (const queue of sortedQueues(rows)) {
      const ofQueue = rows.filter((r) => r.queue === queue);
      const count = (le: string) => ofQueue.find((r) => r.label === le)?.value ?? 0;
      let cumulative = 0;
      for (const le of [...bounds, "+Inf"]) {
        cumulative += count(le);
        samples.push({ suffix: "_bucket", labels: { queue, le }, value: cumulative });
      }
      samples.push({ suffix: "_sum", labels: { queue }, value: count("sum") });
      samples.push({ suffix: "_count", labels: { queue }, value: cumulative });
    }
    families.push({ name: spec.name, help: spec.help, type: "histogram", samples });
  }

  const jobSamples: Sample[] = [];
  for (const queue of [...new Set(jobCounts.map((r) => r.queue))].sort()) {
    for (const state of STATES) {
      const row = jobCounts.find((r) => r.queue === queue && r.state === state);
      jobSamples.push({ labels: { queue, state }, value: row?.count ?? 0 });
    }
  }
  families.push({ name: "baton_jobs", help: "Jobs stored, per queue and state (finished jobs until retention deletes them).", type: "gauge", samples: jobSamples });
  families.push({
    name: "baton_worker_streams",
    help: "Open worker streams on all replicas.",
    type: "gauge",
    samples: [{ labels: {}, value: streams }],
  });
  families.push({
    name: "baton_span_outbox_rows",
    help: "Committed spans waiting for export (the span outbox backlog).",
    type: "gauge",
    samples: [{ labels: {}, value: outboxRows }],
  });
  families.push({
    name: "baton_span_outbox_dropped_total",
    help: "Spans dropped unexported because the outbox exceeded BATON_SPAN_OUTBOX_MAX_ROWS.",
    type: "counter",
    samples: [{ labels: {}, value: (byName.get("span_outbox_dropped_total") ?? []).reduce((sum, r) => sum + r.value, 0) }],
  });
  return families;
}

function sortedQueues(rows: CounterRow[]): string[] {
  return [...new Set(rows.map((r) => r.queue))].sort();
}

function sortBy(rows: CounterRow[]): CounterRow[] {
  return [...rows].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
}

export interface MetricsEndpoint {
  /** Serves GET /metrics. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}

/**
 * /metrics for one replica. A scrape queries the database; scrapes within `cacheMs` of one
 * another (several Prometheus servers, or a burst) share one answer.
 */
export function createMetricsEndpoint(db: Database, log: Logger, cacheMs = 1000): MetricsEndpoint {
  let cached: { time: number; text: Promise<string> } | undefined;
  const render = () => {
    const now = Date.now();
    if (!cached || now - cached.time >= cacheMs) {
      const text = collectMetrics(db).then(formatExposition);
      cached = { time: now, text };
      // A failed scrape is not kept: the next one asks the database again.
      text.catch(() => {
        if (cached?.text === text) cached = undefined;
      });
    }
    return cached.text;
  };
  return {
    handle(req, res) {
      if (req.method !== "GET" && req.method !== "HEAD") {
        res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain" });
        res.end("method not allowed\n");
        return;
      }
      render().then(
        (text) => {
          res.writeHead(200, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
          res.end(req.method === "HEAD" ? undefined : text);
        },
        (error: unknown) => {
          log.warn("metrics scrape failed", { error });
          res.writeHead(503, { "content-type": "text/plain" });
          res.end("metrics unavailable: the database did not answer\n");
        },
      );
    },
  };
}
