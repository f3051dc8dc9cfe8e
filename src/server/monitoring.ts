import type http from "node:http";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { ConnectionLimits } from "../config.js";
import { Health } from "../../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import type { MetricsEndpoint } from "../telemetry/metrics.js";
import type { Logger } from "../util/log.js";
import { type HealthState, createHealthService } from "./health.js";
import { type DualProtocolServer, createDualProtocolServer } from "./listener.js";

/**
 * What orchestrators and scrapers call: health checks and metrics. The main port serves them
 * among everything else; the monitoring port (BATON_MONITORING_PORT) serves only them, always
 * in plaintext, because the kubelet's gRPC probe cannot speak TLS and a scraper may hold no
 * client certificate for mutual TLS.
 */

/** The HTTP/1.1 paths of health and metrics; whether one was answered. */
export function serveHealthAndMetrics(req: http.IncomingMessage, res: http.ServerResponse, health: HealthState, metrics: MetricsEndpoint): boolean {
  if (req.url === "/metrics") {
    metrics.handle(req, res);
    return true;
  }
  // Liveness: see LIVENESS_SERVICE.
  if (req.url === "/livez") {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("ok\n");
    return true;
  }
  if (req.url === "/healthz") {
    const notReady = health.notReady;
    res.writeHead(notReady === undefined ? 200 : 503, { "content-type": "text/plain" });
    res.end(`${notReady ?? "ok"}\n`);
    return true;
  }
  return false;
}

/** The paths a full port still answers: health checks, so a busy broker is not restarted. */
export const isHealthCheck = (path: string) => path === "/healthz" || path === "/livez" || path === `/${Health.typeName}/Check`;

/**
 * The monitoring port's server, not yet listening: grpc.health.v1 over h2c, and /healthz,
 * /livez and /metrics over HTTP/1.1, on one plaintext port; anything else is 404. It has the
 * main port's guards (handshake timeout, connection limit) but counts its connections apart,
 * so a main port at its limit leaves the probes unaffected.
 */
export function createMonitoringServer(health: HealthState, metrics: MetricsEndpoint, connections: ConnectionLimits, log: Logger): DualProtocolServer {
  const handler = connectNodeAdapter({
    routes: (router) => router.service(Health, createHealthService(health)),
    fallback: (req, res) => {
      if (serveHealthAndMetrics(req as http.IncomingMessage, res as http.ServerResponse, health, metrics)) return;
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found: this port serves /healthz, /livez, /metrics and grpc.health.v1 only\n");
    },
  });
  return createDualProtocolServer(
    handler,
    {},
    {
      ...connections,
      answersWhenFull: isHealthCheck,
      onFull: (full, open) => full && log.warn("monitoring port at its connection limit (BATON_MAX_CONNECTIONS)", { open }),
    },
  );
}
