import { readFileSync } from "node:fs";
import type http from "node:http";
import type { AddressInfo, Server as TcpServer } from "node:net";
import type { Resource } from "@opentelemetry/resources";
import { createContextValues } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createJobService } from "../api/job-service.js";
import { errorMappingInterceptor } from "../api/error-mapping.js";
import { createScheduleService } from "../api/schedule-service.js";
import { createQueueService } from "../api/queue-service.js";
import { createTokenService } from "../api/token-service.js";
import { createWorkerService } from "../api/worker-service.js";
import { Broker } from "../broker/broker.js";
import type { ServerConfig, TlsConfig } from "../config.js";
import { JobService } from "../../clients/ts/src/gen/baton/v1/job_service_pb.js";
import { QueueService } from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { ScheduleService } from "../../clients/ts/src/gen/baton/v1/schedule_service_pb.js";
import { TokenService } from "../../clients/ts/src/gen/baton/v1/token_service_pb.js";
import { WorkerService } from "../../clients/ts/src/gen/baton/v1/worker_service_pb.js";
import { Health } from "../../clients/ts/src/gen/grpc/health/v1/health_pb.js";
import { Maintainer } from "../maintenance/maintainer.js";
import type { FireJobOptions } from "../maintenance/schedule-fires.js";
import { schedulerTask } from "../maintenance/scheduler.js";
import { DatabaseAvailability } from "../store/availability.js";
import { createDatabase } from "../store/database.js";
import { startListener } from "../store/listener.js";
import { migrate } from "../store/migrate.js";
import type { Logger } from "../util/log.js";
import { JobSampling } from "../telemetry/job-sampling.js";
import type { MetricsEndpoint } from "../telemetry/metrics.js";
import { replicaGauges } from "../telemetry/replica-gauges.js";
import { RpcMetrics } from "../telemetry/rpc-metrics.js";
import { startTelemetry } from "../telemetry/telemetry.js";
import { peerAddress, startAuth } from "./auth.js";
import { rpcMetricsInterceptor } from "./rpc-metrics.js";
import { answerDecodeErrorsAsInvalidArgument } from "./decode-errors.js";
import { HealthState, createHealthService } from "./health.js";
import { startKeepalive } from "./keepalive.js";
import { type DualProtocolServer, type TlsMaterial, createDualProtocolServer } from "./listener.js";
import { createMonitoringServer, isHealthCheck, serveHealthAndMetrics } from "./monitoring.js";
import { serveUi } from "./static-ui.js";
import { readTokensFile, seedTokens } from "./tokens-file.js";
import { tracingInterceptor } from "./tracing.js";

/**
 * HTTP/2 flow-control window of each request stream: room for one full settle message (the
 * clients cap theirs at about 1 MiB) and bounded, since it is what a worker that writes
 * without reading makes the broker buffer.
 */
const STREAM_WINDOW_BYTES = 1024 * 1024;

export interface RunningServer {
  /** The port actually bound (useful with port 0). */
  port: number;
  broker: Broker;
  /** Drains and stops; resolves when everything is closed. */
  stop(): Promise<void>;
}

/**
 * Migrates the database, starts the broker and serves every API on one port. `tracingResource`
 * is the resource of the RPC spans (startTracingSdk's), for the job spans to carry the same.
 */
export async function startServer(config: ServerConfig & { databaseUrl: string }, log: Logger, tracingResource?: Resource): Promise<RunningServer> {
  const tlsMaterial = config.tls && readTlsMaterial(config.tls);
  // Read before the database is touched: a bad file stops the start without side effects.
  const tokenSeeds = config.auth.tokensFile === undefined ? undefined : readTokensFile(config.auth.tokensFile);
  const { timeouts, healthIntervalMs, startupTimeoutMs } = config.database;
  const applied = await migrate(config.databaseUrl, { log, startupTimeoutMs, connectTimeoutMs: timeouts.connectMs });
  if (applied.length > 0) log.info("applied migrations", { migrations: applied });

  const availability = new DatabaseAvailability({ url: config.databaseUrl, log, intervalMs: healthIntervalMs, timeoutMs: timeouts.connectMs });
  availability.start();
  const db = createDatabase({ url: config.databaseUrl, applicationName: "baton", timeouts, availability });
  if (tokenSeeds) await seedTokens(db, tokenSeeds, log);
  // One sampler (OTEL_TRACES_SAMPLER) decides for job spans as the SDK's does for RPC spans;
  // the traceparents handed to workers carry its decisions.
  const sampling = config.tracing.url ? new JobSampling(config.tracing.sampler) : undefined;
  const broker = new Broker({ db, log, config: config.broker, traceSampling: sampling });
  const health = new HealthState(availability);
  const limits = {
    maxPayloadBytes: config.maxPayloadBytes,
    defaultMaxAttempts: config.defaultMaxAttempts,
    maxBatchSize: config.maxBatchSize,
    maxPageBytes: config.maxPageBytes,
    maxBatchDependencies: config.maxBatchDependencies,
    maxInFlight: config.maxInFlight,
    maxHeaders: config.maxHeaders,
    maxHeaderBytes: config.maxHeaderBytes,
  };
  const auth = config.auth.enabled
    ? startAuth({
        db,
        log,
        cacheMs: config.auth.cacheMs,
        limits: config.auth.limits,
        maxFailures: config.auth.maxFailures,
        failureWindowMs: config.auth.failureWindowMs,
        maxInFlightPerStream: config.maxInFlight,
        maxQueuesPerStream: config.stream.maxQueues,
      })
    : undefined;
  if (!auth) {
    log.warn("AUTHENTICATION IS OFF: any client may call every RPC. Fine for development on the embedded database; " +
      'anywhere else set BATON_AUTH=on and create API tokens with "baton tokens create"');
  }

  // One owner for the replica's periodic work (see maintenance/maintainer.ts).
  const maintainer = new Maintainer(log);
  const rpcMetrics = new RpcMetrics();
  const telemetry = await startTelemetry({
    db,
    log,
    replicaId: broker.replicaId,
    tracing: config.tracing,
    sampling,
    resource: tracingResource,
    jobMetrics: broker.metrics,
    metricSources: [maintainer, rpcMetrics, { registry: replicaGauges({ pool: db.pool, streams: () => broker.listSessions() }) }],
  });

  // Schedule fires (the scheduler's and TriggerSchedule's) enqueue their jobs alike. Fired jobs
  // wake every replica's dispatcher, this one's included, through the enqueue NOTIFY.
  const firing: FireJobOptions = {
    defaultMaxAttempts: config.defaultMaxAttempts,
    onEnqueued: (jobs) => broker.scheduled(jobs),
    traceSampling: sampling,
  };

  const rpcHandler = connectNodeAdapter({
    // Error mapping first, so it also maps what the guards after it throw; the RPC span and
    // the RPC metrics around everything, so they record the mapped error.
    interceptors: [
      rpcMetricsInterceptor(rpcMetrics),
      ...(config.tracing.url ? [tracingInterceptor()] : []),
      errorMappingInterceptor(log),
      ...(auth ? [auth.interceptor] : []),
    ],
    // The payload limit is checked per job with a precise error; this bounds a whole message.
    readMaxBytes: config.maxRequestBytes,
    // Requests may come compressed; responses only when configured (BATON_COMPRESS_MIN_BYTES).
    compressMinBytes: config.compressMinBytes || Number.POSITIVE_INFINITY,
    // Failed authentications are limited per client address (see auth.ts).
    contextValues: (req) => createContextValues().set(peerAddress, req.socket.remoteAddress ?? "unknown"),
    routes(router) {
      router.service(JobService, createJobService({ broker, db, log, limits, maxQueueDepth: config.maxQueueDepth }));
      router.service(WorkerService, createWorkerService({ broker, db, log, limits, stream: config.stream, helloTimeoutMs: 10_000, maxResumeGraceMs: config.maxResumeGraceMs }));
      router.service(QueueService, createQueueService(db));
      router.service(ScheduleService, createScheduleService({ db, limits, firing }));
      router.service(TokenService, createTokenService());
      router.service(Health, createHealthService(health));
      answerDecodeErrorsAsInvalidArgument(router);
    },
    fallback: (req, res) => serveHttp(req as http.IncomingMessage, res as http.ServerResponse, health, telemetry.metrics),
  });

  const server = createDualProtocolServer(
    rpcHandler,
    // Settle messages of a busy worker carry hundreds of results: with HTTP/2's default
    // window of 64 KiB each would wait for window updates.
    { settings: { initialWindowSize: STREAM_WINDOW_BYTES } },
    {
      ...config.connections,
      answersWhenFull: isHealthCheck,
      onFull: (full, open) =>
        full
          ? log.warn("connection limit reached: new connections get health checks only until some close (BATON_MAX_CONNECTIONS)", { open, limit: config.connections.maxConnections })
          : log.info("connections back under the limit", { open, limit: config.connections.maxConnections }),
    },
    tlsMaterial,
  );
  const keepalive = startKeepalive(server.http2, { intervalMs: config.keepaliveIntervalMs, timeoutMs: config.keepaliveTimeoutMs });
  await broker.start(maintainer);
  maintainer.add(
    schedulerTask({ db, log, intervalMs: config.schedulerIntervalMs, ...firing }),
    ...(auth ? [auth.task] : []),
  );
  // One LISTEN connection for every channel of the replica.
  const listener = startListener({
    url: config.databaseUrl,
    log,
    connectTimeoutMs: timeouts.connectMs,
    availability,
    handlers: { ...broker.notifications.handlers, ...auth?.notifications.handlers },
    onConnected: () => {
      broker.notifications.onConnected();
      auth?.notifications.onConnected();
    },
  });
  maintainer.start();
  let monitoring: DualProtocolServer | undefined;
  if (config.monitoringPort !== undefined) {
    monitoring = createMonitoringServer(health, telemetry.metrics, config.connections, log);
    // Probes hear NOT_SERVING on it until the main port listens too.
    await listen(monitoring.tcp, config.monitoringPort, config.host);
  }
  await listen(server.tcp, config.port, config.host);
  health.serving = true;
  const port = (server.tcp.address() as AddressInfo).port;
  log.info("baton serving", {
    port,
    ...(monitoring && { monitoringPort: (monitoring.tcp.address() as AddressInfo).port }),
    replica: broker.replicaId,
    pid: process.pid,
    tls: tlsMaterial ? (tlsMaterial.clientCa ? "mutual" : "on") : "off",
    auth: auth ? "on" : "off",
  });

  let stopping: Promise<void> | undefined;
  const stop = async () => {
    health.serving = false;
    // New connections are refused; open streams stay up while their jobs drain.
    server.tcp.close();
    await broker.shutdown(config.drainMs);
    await maintainer.stop();
    await broker.close();
    await listener.close();
    keepalive.stop();
    await server.close(1_000);
    // Last to go: probes keep hearing NOT_SERVING (readiness) and SERVING (liveness) through the drain.
    await monitoring?.close(1_000);
    await telemetry.stop();
    await availability.stop();
    await db.close();
  };
  return { port, broker, stop: () => (stopping ??= stop()) };
}

function serveHttp(req: http.IncomingMessage, res: http.ServerResponse, health: HealthState, metrics: MetricsEndpoint): void {
  if (serveHealthAndMetrics(req, res, health, metrics)) return;
  // The dashboard (/ui) and the redirect of / to it.
  if (serveUi(req, res)) return;
  res.writeHead(404, { "content-type": "text/plain" });
  res.end("not found\n");
}

function listen(tcp: TcpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    tcp.once("error", reject);
    tcp.listen(port, host, resolve);
  });
}

/** Reads the PEM files now, so a wrong path stops the broker at start with the variable's name. */
function readTlsMaterial(tls: TlsConfig): TlsMaterial {
  const read = (file: string, variable: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new Error(`cannot read ${variable} "${file}": ${(error as Error).message}`, { cause: error });
    }
  };
  return {
    cert: read(tls.certFile, "BATON_TLS_CERT_FILE"),
    key: read(tls.keyFile, "BATON_TLS_KEY_FILE"),
    ...(tls.clientCaFile !== undefined && { clientCa: read(tls.clientCaFile, "BATON_TLS_CLIENT_CA_FILE") }),
  };
}
