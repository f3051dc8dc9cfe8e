import type http from "node:http";
import { Registry } from "prom-client";
import type { Logger } from "../util/log.js";
import type { ClusterGauges } from "./cluster-gauges.js";
import { processMetrics } from "./process-metrics.js";

/**
 * Prometheus metrics of one replica, with prom-client. Counters, histograms and the gauges of
 * the replica's own resources are this replica's, kept in memory: sum() them over replicas.
 * The cluster gauges describe the shared database, from one indexed query per scrape, so every
 * replica reports the same values: max() them over replicas. docs/OPERATIONS.md lists which is
 * which, with the PromQL for each.
 */

/** Metrics kept in this replica's memory (job counters, RPCs, background tasks…), each on a registry of its own. */
export interface MetricSource {
  readonly registry: Registry;
}

export interface MetricsEndpoint {
  /** Serves GET /metrics. */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void;
}

/**
 * /metrics for one replica. A scrape queries the database; scrapes within `cacheMs` of one
 * another (several Prometheus servers, or a burst) share one answer.
 */
export function createMetricsEndpoint(cluster: ClusterGauges, sources: readonly MetricSource[], log: Logger, cacheMs = 1000): MetricsEndpoint {
  // Merging fails at start on a metric name registered twice.
  const registry = Registry.merge([processMetrics(), cluster.registry, ...sources.map((source) => source.registry)]);
  let cached: { time: number; text: Promise<string> } | undefined;
  const render = () => {
    const now = Date.now();
    if (!cached || now - cached.time >= cacheMs) {
      const text = cluster.refresh().then(() => registry.metrics());
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
          res.writeHead(200, { "content-type": registry.contentType });
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
