import type http from "node:http";
import { WORKER_STALE_SECONDS } from "../store/workers.js";
import type { Database } from "../store/database.js";
import { type GaugeRow, telemetryGauges } from "../store/telemetry.js";
import { type MetricFamily, formatExposition } from "./exposition.js";
import type { Logger } from "../util/log.js";

/**
 * Prometheus metrics of one replica. Counters and histograms are this replica's own, kept in
 * memory (src/telemetry/job-metrics.ts): sum() them over replicas. Gauges describe the shared
 * database, from one indexed query per scrape, so every replica reports the same values:
 * max() them over replicas.
 */

/** The states of live jobs; finished ones are counted by baton_jobs_finished_total. */
const LIVE_STATES = ["scheduled", "available", "blocked", "leased"];

/** Metric families kept in this replica's memory (job counters, background tasks). */
export interface MetricSource {
  families(): MetricFamily[];
}

/** Everything /metrics shows: this replica's counters, and the gauges from one query. */
export async function collectMetrics(db: Database, sources: readonly MetricSource[]): Promise<MetricFamily[]> {
  const gauges = await telemetryGauges(db, WORKER_STALE_SECONDS);
  const single = (kind: GaugeRow["kind"]) => gauges.find((row) => row.kind === kind)?.value ?? 0;
  const jobCounts = gauges.filter((row) => row.kind === "jobs");
  // Every queue with live jobs or settings, zeros included: the same on every replica.
  const queues = [...new Set(gauges.filter((row) => row.kind === "jobs" || row.kind === "queue").map((row) => row.queue))].sort();
  const jobSamples = queues.flatMap((queue) =>
    LIVE_STATES.map((state) => ({ labels: { queue, state }, value: jobCounts.find((row) => row.queue === queue && row.state === state)?.value ?? 0 })),
  );
  return [
    ...sources.flatMap((source) => source.families()),
    { name: "baton_jobs", help: "Live jobs stored, per queue and state (scheduled, available, blocked, leased).", type: "gauge", samples: jobSamples },
    {
      name: "baton_worker_streams",
      help: "Open worker streams on all replicas.",
      type: "gauge",
      samples: [{ labels: {}, value: single("worker_streams") }],
    },
    {
      name: "baton_span_outbox_rows",
      help: "Committed spans waiting for export (the span outbox backlog).",
      type: "gauge",
      samples: [{ labels: {}, value: single("span_outbox_rows") }],
    },
  ];
}

export interface MetricsEndpoint {
  /** Serves GET /metrics. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}

/**
 * /metrics for one replica. A scrape queries the database; scrapes within `cacheMs` of one
 * another (several Prometheus servers, or a burst) share one answer.
 */
export function createMetricsEndpoint(db: Database, sources: readonly MetricSource[], log: Logger, cacheMs = 1000): MetricsEndpoint {
  let cached: { time: number; text: Promise<string> } | undefined;
  const render = () => {
    const now = Date.now();
    if (!cached || now - cached.time >= cacheMs) {
      const text = collectMetrics(db, sources).then(formatExposition);
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
