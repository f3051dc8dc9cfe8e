import type { DatabaseTimeouts } from "./store/database.js";
import {
  type OtlpProtocol,
  type ResourceDetectorName,
  type TraceSamplerConfig,
  otlpTarget,
  resourceDetectorNames,
  serviceName,
  traceSamplerConfig,
} from "./otel-env.js";
import type { Retention, RetryPolicy } from "./store/jobs.js";

/** What the broker of one replica is told (BATON_LEASE_SECONDS, BATON_POLL_SECONDS, …). */
export interface BrokerConfig {
  /** Lease length for queues that set none; renewed every third of it while a stream lives. */
  leaseSeconds: number;
  /** Fallback poll for missed notifications, jittered ±20%. */
  pollIntervalMs: number;
  /** How often each replica looks for expired leases. */
  reapIntervalMs: number;
  /** How often each replica deletes finished jobs past retention. */
  retentionIntervalMs: number;
  /** App-level ping period; a stream silent for three periods is closed. */
  pingIntervalMs: number;
  retryPolicy: RetryPolicy;
  /** Retention for queues that set none. */
  retention: Retention;
  defaultMaxAttempts: number;
  maxClaimBatch: number;
  /** Most bytes of blocker results in one dependant's delivery; later ones are omitted. */
  maxDependsOnResultBytes: number;
  /** How often each replica adds its counts to the queue history (and does at shutdown). */
  historyFlushIntervalMs: number;
  /** How long the queue history keeps each minute; swept at the retention interval. */
  historyRetentionSeconds: number;
}

/** What one token may use on one replica. Every count is in memory, per replica. */
export interface TokenLimits {
  /** Requests per second (a bucket holding one second's worth); 0 means unlimited. */
  rateLimit: number;
  /** Open Subscribe streams. */
  maxStreams: number;
  /** Sum of hello.max_in_flight over the open streams. */
  maxInFlight: number;
  /**
   * Sum of the queues named by the hellos of the open streams: each queue of a stream costs
   * claims and wakeups, so many streams of few queues each must not add up to a flood.
   */
  maxQueues: number;
}

/** Everything `baton serve` can be told, from flags or environment. */
export interface ServerConfig {
  /** PostgreSQL URL; undefined starts the embedded server. */
  databaseUrl: string | undefined;
  port: number;
  /**
   * A second, plaintext port for health checks and /metrics only (BATON_MONITORING_PORT), for
   * kubelet probes and scrapers that cannot speak the main port's TLS; undefined opens none.
   */
  monitoringPort: number | undefined;
  host: string;
  dataDir: string;
  maxPayloadBytes: number;
  maxBatchSize: number;
  /** Most bytes of job data in one ListJobs page, of schedule data in one ListSchedules page; the rest follows with next_page_token. */
  maxPageBytes: number;
  /** Largest request message (decompressed): an EnqueueJobs batch, a stream message. */
  maxRequestBytes: number;
  /** Smallest response gzipped for a client that accepts it; 0 never compresses. */
  compressMinBytes: number;
  /** Most depends_on and depends_on_index entries over all the jobs of one EnqueueJobs call. */
  maxBatchDependencies: number;
  defaultMaxAttempts: number;
  /** Highest max_in_flight a worker may ask for. */
  maxInFlight: number;
  /** How long a stopping broker waits for in-flight jobs to settle. */
  drainMs: number;
  /** Longest hello.resume_grace honoured. */
  maxResumeGraceMs: number;
  /** HTTP/2 PING period and the answer it waits for. */
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
  /** How often each replica looks for due cron schedules (jittered ±20%). */
  schedulerIntervalMs: number;
  /** Most headers on one job, and most bytes of their names and values. */
  maxHeaders: number;
  maxHeaderBytes: number;
  /** Most jobs waiting in one queue before EnqueueJob(s) is refused; 0 means no limit. */
  maxQueueDepth: number;
  /** How the port guards itself against clients that connect and say nothing. */
  connections: ConnectionLimits;
  /** What one worker stream may ask of the broker. */
  stream: StreamLimits;
  auth: AuthConfig;
  /** Serve TLS (and mutual TLS with a client CA); undefined serves plaintext (h2c). */
  tls: TlsConfig | undefined;
  /** Job spans (the outbox relay) and live RPC spans; see docs/OPERATIONS.md, "Tracing job chains in Jaeger". */
  tracing: TracingConfig;
  database: DatabaseConfig;
  broker: BrokerConfig;
}

export interface DatabaseConfig {
  timeouts: DatabaseTimeouts;
  /** Period of the readiness check of the database; a check fails after timeouts.connectMs. */
  healthIntervalMs: number;
  /** How long serve and migrate wait for an unanswering database or a held migration lock. */
  startupTimeoutMs: number;
}

export interface StreamLimits {
  /** Most queues one hello may name. */
  maxQueues: number;
  /** Most continue_with entries in one ack. */
  maxContinuations: number;
  /** Most bytes (UTF-8) of a nack's error text. */
  maxErrorBytes: number;
  /** Most bytes (UTF-8) of a progress message. */
  maxProgressBytes: number;
  /** Deliveries stop while more than this many bytes wait for a stream that does not read. */
  maxBufferedBytes: number;
}

export interface TracingConfig {
  /**
   * Traces endpoint: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given, else
   * OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces" over HTTP). Undefined (neither set,
   * OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none) turns the relay and live tracing off.
   */
  url: string | undefined;
  /** OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf. */
  protocol: OtlpProtocol;
  /** OTEL_TRACES_SAMPLER(_ARG), for RPC spans and job spans alike. */
  sampler: TraceSamplerConfig;
  /** OTEL_NODE_RESOURCE_DETECTORS: what the resource of every span is detected from. */
  resourceDetectors: ResourceDetectorName[];
  /** service.name: OTEL_SERVICE_NAME, else OTEL_RESOURCE_ATTRIBUTES' service.name, else "baton". */
  serviceName: string;
  /** Pause of each replica's relay when the outbox is empty. */
  relayIntervalMs: number;
  /** Spans per OTLP export request. */
  relayBatchSize: number;
  /** Bound of the span outbox; the oldest spans beyond it are dropped (and counted). */
  outboxMaxRows: number;
}

export interface ConnectionLimits {
  /** How long a new connection has to finish its TLS handshake and its HTTP/2 preface or first HTTP/1.1 request. */
  handshakeTimeoutMs: number;
  /** Connections held at once; beyond it, only health checks are answered (see listener.ts). */
  maxConnections: number;
}

export interface AuthConfig {
  /** Whether every RPC but grpc.health.v1 needs a bearer API token. */
  enabled: boolean;
  /** API tokens to create at start if missing (BATON_AUTH_TOKENS_FILE; see server/tokens-file.ts). */
  tokensFile: string | undefined;
  /** How long a token lookup is trusted; also how often open streams are re-checked. */
  cacheMs: number;
  /** Per-token limits on each replica, for tokens that set none of their own. */
  limits: TokenLimits;
  /** Failed token lookups one client address may cause per window before it is refused without a lookup; 0 means no limit. */
  maxFailures: number;
  failureWindowMs: number;
}

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  /** When set, clients must present a certificate issued by this CA (mutual TLS). */
  clientCaFile?: string;
}

/** A setting: its variable, its default, and how a value is parsed. */
interface Setting<T> {
  env: string;
  default: T;
  parse(value: string): T;
  description: string;
}

const int = (env: string, def: number, description: string, min = 1): Setting<number> => ({
  env,
  default: def,
  description,
  parse(value) {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new Error(`${env} must be an integer >= ${min}, got "${value}"`);
    return n;
  },
});

const seconds = (env: string, def: number, description: string): Setting<number> => ({
  env,
  default: def,
  description,
  parse(value) {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${env} must be a positive number of seconds, got "${value}"`);
    return n;
  },
});

const text = (env: string, def: string, description: string): Setting<string> => ({
  env,
  default: def,
  description,
  parse: (value) => value,
});

type AuthMode = "auto" | "on" | "off";

const authMode = (env: string, description: string): Setting<AuthMode> => ({
  env,
  default: "auto",
  description,
  parse(value) {
    const mode = ({ auto: "auto", on: "on", true: "on", off: "off", false: "off" } as const)[value.toLowerCase() as "on"];
    if (!mode) throw new Error(`${env} must be on, off or auto, got "${value}"`);
    return mode;
  },
});

/** The settings table; docs/CONFIGURATION.md lists the same. */
export const settings = {
  port: int("BATON_PORT", 7600, "gRPC, gRPC-Web, Connect and HTTP/1.1 (/healthz) on one port", 0),
  monitoringPort: int(
    "BATON_MONITORING_PORT",
    0,
    "a second port, always plaintext, serving only health checks (/healthz, /livez, grpc.health.v1) and /metrics: for probes and scrapers when the main port speaks TLS; 0: none",
    0,
  ),
  host: text("BATON_HOST", "0.0.0.0", "interface to listen on"),
  dataDir: text("BATON_DATA_DIR", ".baton", "where the embedded PostgreSQL keeps its data"),
  maxPayloadBytes: int("BATON_MAX_PAYLOAD_BYTES", 1024 * 1024, "largest job payload accepted"),
  maxBatchSize: int("BATON_MAX_BATCH_SIZE", 10_000, "most jobs in one EnqueueJobs call"),
  maxPageBytes: int(
    "BATON_MAX_PAGE_BYTES",
    4 * 1024 * 1024,
    "most bytes of job data (payloads, results, headers, errors) in one ListJobs page, and of schedule payloads and headers in one ListSchedules page; a page ends early there, with a next_page_token",
  ),
  maxRequestBytes: int(
    "BATON_MAX_REQUEST_BYTES",
    0,
    "largest request message, decompressed (an EnqueueJobs batch, a worker stream message); 0: twice BATON_MAX_PAYLOAD_BYTES plus 64 KiB, at least 4 MiB",
    0,
  ),
  compressMinBytes: int(
    "BATON_COMPRESS_MIN_BYTES",
    0,
    "smallest response message gzipped when the client accepts gzip; 0 never compresses (between a broker and its workers, gzip costs more CPU than it saves)",
    0,
  ),
  maxBatchDependencies: int("BATON_MAX_BATCH_DEPENDENCIES", 10_000, "most depends_on and depends_on_index entries over all the jobs of one EnqueueJobs call"),
  defaultMaxAttempts: int("BATON_DEFAULT_MAX_ATTEMPTS", 25, "attempts of a job that names none"),
  maxInFlight: int("BATON_MAX_IN_FLIGHT", 10_000, "highest max_in_flight a worker stream may ask for"),
  drainSeconds: seconds("BATON_DRAIN_SECONDS", 25, "on SIGTERM, how long in-flight jobs may take to settle"),
  maxResumeGraceSeconds: seconds("BATON_MAX_RESUME_GRACE_SECONDS", 30, "longest time a broken stream's leases wait for a resume"),
  leaseSeconds: seconds("BATON_LEASE_SECONDS", 30, "lease length; renewed every third of it while a stream lives"),
  pollSeconds: seconds("BATON_POLL_SECONDS", 5, "fallback poll for missed notifications (jittered ±20%)"),
  reapSeconds: seconds("BATON_REAP_SECONDS", 5, "how often expired leases are looked for"),
  pingSeconds: seconds("BATON_PING_SECONDS", 10, "app-level ping on worker streams; three missed answers close one"),
  keepaliveSeconds: seconds("BATON_KEEPALIVE_SECONDS", 10, "HTTP/2 PING period on every connection"),
  retryBaseSeconds: seconds("BATON_RETRY_BASE_SECONDS", 1, "first retry delay; doubles per attempt, with jitter"),
  retryMaxSeconds: seconds("BATON_RETRY_MAX_SECONDS", 3600, "longest retry delay"),
  succeededRetentionSeconds: seconds("BATON_SUCCEEDED_RETENTION_SECONDS", 86_400, "how long succeeded jobs are kept"),
  deadRetentionSeconds: seconds("BATON_DEAD_RETENTION_SECONDS", 604_800, "how long dead jobs are kept"),
  cancelledRetentionSeconds: seconds("BATON_CANCELLED_RETENTION_SECONDS", 86_400, "how long cancelled jobs are kept"),
  retentionSweepSeconds: seconds("BATON_RETENTION_SWEEP_SECONDS", 60, "how often finished jobs past retention are deleted"),
  historyFlushSeconds: seconds("BATON_HISTORY_FLUSH_SECONDS", 5, "how often each replica adds what it counted to the queue history; a crashed replica loses at most this much of it"),
  historyRetentionSeconds: seconds("BATON_HISTORY_RETENTION_SECONDS", 604_800, "how long the queue history (GetQueueHistory, the dashboard's charts) keeps each minute"),
  schedulerSeconds: seconds("BATON_SCHEDULER_SECONDS", 1, "how often each replica looks for due cron schedules (jittered ±20%)"),
  maxHeaders: int("BATON_MAX_HEADERS", 64, "most headers on one job"),
  maxHeaderBytes: int("BATON_MAX_HEADER_BYTES", 16 * 1024, "most bytes of one job's header names and values"),
  maxQueueDepth: int("BATON_MAX_QUEUE_DEPTH", 0, "most jobs waiting in one queue before enqueues are refused; 0: no limit", 0),
  handshakeTimeoutSeconds: seconds("BATON_HANDSHAKE_TIMEOUT_SECONDS", 5, "how long a new connection may take to send its first request (or HTTP/2 preface, or TLS handshake)"),
  maxConnections: int("BATON_MAX_CONNECTIONS", 1000, "connections held at once; keep it below the open-file limit (ulimit -n). Beyond it only health checks are answered"),
  maxQueuesPerStream: int("BATON_MAX_QUEUES_PER_STREAM", 100, "most queues one worker stream may take jobs from"),
  maxContinuations: int("BATON_MAX_CONTINUATIONS", 1000, "most continue_with entries in one ack"),
  maxErrorBytes: int("BATON_MAX_ERROR_BYTES", 16 * 1024, "most bytes (UTF-8) of a nack's error text kept; a longer one is cut there"),
  maxProgressBytes: int("BATON_MAX_PROGRESS_BYTES", 4 * 1024, "most bytes (UTF-8) of a progress message kept; a longer one is cut there"),
  maxDependsOnResultBytes: int(
    "BATON_MAX_DEPENDS_ON_RESULT_BYTES",
    1024 * 1024,
    "most bytes of blocker results one dependant's delivery carries (depends_on_results); the results past it are marked omitted, for the handler to read with GetJob; 0: every result is omitted",
    0,
  ),
  maxStreamBufferBytes: int("BATON_MAX_STREAM_BUFFER_BYTES", 8 * 1024 * 1024, "deliveries to a stream pause while this many bytes wait unread"),
  auth: authMode("BATON_AUTH", "on, off, or auto: on with a database URL, off on the embedded PostgreSQL"),
  authTokensFile: text(
    "BATON_AUTH_TOKENS_FILE",
    "",
    "a file of API tokens (one \"name role queues secret\" per line) created at start when missing; a bad line stops the broker",
  ),
  authCacheSeconds: seconds("BATON_AUTH_CACHE_SECONDS", 5, "how long a token lookup is trusted; open streams are re-checked as often"),
  authFailureLimit: int("BATON_AUTH_FAILURE_LIMIT", 20, "failed token lookups per client address and window before its unknown tokens are refused unchecked; 0: no limit", 0),
  authFailureWindowSeconds: seconds("BATON_AUTH_FAILURE_WINDOW_SECONDS", 60, "the window of BATON_AUTH_FAILURE_LIMIT"),
  tokenRateLimit: int("BATON_TOKEN_RATE_LIMIT", 1000, "requests per second per API token on each replica; 0: no limit", 0),
  tokenMaxStreams: int("BATON_TOKEN_MAX_STREAMS", 1000, "open worker streams per API token on each replica"),
  tokenMaxInFlight: int("BATON_TOKEN_MAX_IN_FLIGHT", 100_000, "sum of max_in_flight over an API token's streams on each replica"),
  tokenMaxQueues: int("BATON_TOKEN_MAX_QUEUES", 10_000, "sum of the queues named by an API token's streams (their hellos) on each replica"),
  tlsCertFile: text("BATON_TLS_CERT_FILE", "", "PEM certificate chain; with the key file, the port serves TLS only"),
  tlsKeyFile: text("BATON_TLS_KEY_FILE", "", "PEM private key of the certificate"),
  tlsClientCaFile: text("BATON_TLS_CLIENT_CA_FILE", "", "PEM CA bundle; when set, clients must present a certificate it issued (mutual TLS)"),
  spanRelaySeconds: seconds("BATON_SPAN_RELAY_SECONDS", 1, "how often each replica looks for spans to export when the outbox was empty"),
  spanRelayBatchSize: int("BATON_SPAN_RELAY_BATCH_SIZE", 512, "spans per OTLP export request"),
  dbConnectTimeoutSeconds: seconds("BATON_DB_CONNECT_TIMEOUT_SECONDS", 5, "longest wait to open a database connection (or for a free one); a readiness check unanswered as long marks the database unreachable"),
  dbStatementTimeoutSeconds: seconds("BATON_DB_STATEMENT_TIMEOUT_SECONDS", 10, "PostgreSQL cancels a broker statement that runs longer (statement_timeout); migrations have none"),
  dbQueryTimeoutSeconds: seconds("BATON_DB_QUERY_TIMEOUT_SECONDS", 15, "longest wait for any answer of the database (a network partition); above the statement timeout"),
  dbIdleInTransactionTimeoutSeconds: seconds("BATON_DB_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 15, "PostgreSQL ends a broker session idle this long inside a transaction, freeing its locks"),
  dbHealthSeconds: seconds("BATON_DB_HEALTH_SECONDS", 1, "how often each replica checks that the database answers; readiness follows it"),
  dbStartupTimeoutSeconds: seconds("BATON_DB_STARTUP_TIMEOUT_SECONDS", 60, "how long serve and migrate retry a database that does not answer, or a held migration lock, before exiting"),
  spanOutboxMaxRows: int("BATON_SPAN_OUTBOX_MAX_ROWS", 1_000_000, "most spans waiting for export; the oldest beyond it are dropped and counted"),
};

type Settings = typeof settings;
type Values = { [K in keyof Settings]: Settings[K]["default"] };

/**
 * Reads settings from `overrides` (flags, already keyed by setting), then the environment,
 * then the defaults. A malformed value is an error, not a silent default.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Values> = {}): ServerConfig {
  const values = {} as Record<string, unknown>;
  for (const [key, setting] of Object.entries(settings) as [keyof Settings, Setting<unknown>][]) {
    const raw = env[setting.env];
    values[key] = overrides[key] ?? (raw !== undefined && raw !== "" ? setting.parse(raw) : setting.default);
  }
  const v = values as Values;
  if (v.dbQueryTimeoutSeconds <= v.dbStatementTimeoutSeconds) {
    // Else a slow statement would be abandoned as if the database were gone, instead of being
    // cancelled by PostgreSQL.
    throw new Error(
      `BATON_DB_QUERY_TIMEOUT_SECONDS (${v.dbQueryTimeoutSeconds}) must be greater than BATON_DB_STATEMENT_TIMEOUT_SECONDS (${v.dbStatementTimeoutSeconds})`,
    );
  }
  if (v.monitoringPort !== 0 && v.monitoringPort === v.port) {
    throw new Error(`BATON_MONITORING_PORT (${v.monitoringPort}) must differ from BATON_PORT: it is a second port`);
  }
  const databaseUrl = env.BATON_DATABASE_URL || env.DATABASE_URL || undefined;
  const target = otlpTarget(env);
  return {
    databaseUrl,
    port: v.port,
    monitoringPort: v.monitoringPort === 0 ? undefined : v.monitoringPort,
    host: v.host,
    dataDir: v.dataDir,
    maxPayloadBytes: v.maxPayloadBytes,
    maxBatchSize: v.maxBatchSize,
    maxPageBytes: v.maxPageBytes,
    // A message must hold the largest payload (and an ack its result) with room for the rest.
    maxRequestBytes: v.maxRequestBytes || Math.max(4 * 1024 * 1024, v.maxPayloadBytes * 2 + 64 * 1024),
    compressMinBytes: v.compressMinBytes,
    maxBatchDependencies: v.maxBatchDependencies,
    defaultMaxAttempts: v.defaultMaxAttempts,
    maxInFlight: v.maxInFlight,
    drainMs: v.drainSeconds * 1000,
    maxResumeGraceMs: v.maxResumeGraceSeconds * 1000,
    keepaliveIntervalMs: v.keepaliveSeconds * 1000,
    keepaliveTimeoutMs: v.keepaliveSeconds * 1000,
    schedulerIntervalMs: v.schedulerSeconds * 1000,
    maxHeaders: v.maxHeaders,
    maxHeaderBytes: v.maxHeaderBytes,
    maxQueueDepth: v.maxQueueDepth,
    connections: { handshakeTimeoutMs: v.handshakeTimeoutSeconds * 1000, maxConnections: v.maxConnections },
    stream: {
      maxQueues: v.maxQueuesPerStream,
      maxContinuations: v.maxContinuations,
      maxErrorBytes: v.maxErrorBytes,
      maxProgressBytes: v.maxProgressBytes,
      maxBufferedBytes: v.maxStreamBufferBytes,
    },
    auth: {
      // The embedded PostgreSQL is for development on one machine; anything pointed at a real
      // database is a deployment, and deployments are closed unless told otherwise.
      enabled: v.auth === "auto" ? databaseUrl !== undefined : v.auth === "on",
      tokensFile: v.authTokensFile === "" ? undefined : v.authTokensFile,
      cacheMs: v.authCacheSeconds * 1000,
      limits: { rateLimit: v.tokenRateLimit, maxStreams: v.tokenMaxStreams, maxInFlight: v.tokenMaxInFlight, maxQueues: v.tokenMaxQueues },
      maxFailures: v.authFailureLimit,
      failureWindowMs: v.authFailureWindowSeconds * 1000,
    },
    tls: tlsConfig(v.tlsCertFile, v.tlsKeyFile, v.tlsClientCaFile),
    tracing: {
      url: target?.url,
      protocol: target?.protocol ?? "http/protobuf",
      sampler: traceSamplerConfig(env),
      resourceDetectors: resourceDetectorNames(env),
      serviceName: serviceName(env),
      relayIntervalMs: v.spanRelaySeconds * 1000,
      relayBatchSize: v.spanRelayBatchSize,
      outboxMaxRows: v.spanOutboxMaxRows,
    },
    database: {
      timeouts: {
        connectMs: v.dbConnectTimeoutSeconds * 1000,
        statementMs: v.dbStatementTimeoutSeconds * 1000,
        queryMs: v.dbQueryTimeoutSeconds * 1000,
        idleInTransactionMs: v.dbIdleInTransactionTimeoutSeconds * 1000,
      },
      healthIntervalMs: v.dbHealthSeconds * 1000,
      startupTimeoutMs: v.dbStartupTimeoutSeconds * 1000,
    },
    broker: {
      leaseSeconds: v.leaseSeconds,
      pollIntervalMs: v.pollSeconds * 1000,
      reapIntervalMs: v.reapSeconds * 1000,
      pingIntervalMs: v.pingSeconds * 1000,
      retentionIntervalMs: v.retentionSweepSeconds * 1000,
      retryPolicy: { baseDelaySeconds: v.retryBaseSeconds, maxDelaySeconds: v.retryMaxSeconds },
      retention: {
        succeededSeconds: v.succeededRetentionSeconds,
        deadSeconds: v.deadRetentionSeconds,
        cancelledSeconds: v.cancelledRetentionSeconds,
      },
      defaultMaxAttempts: v.defaultMaxAttempts,
      maxClaimBatch: 1000,
      maxDependsOnResultBytes: v.maxDependsOnResultBytes,
      historyFlushIntervalMs: v.historyFlushSeconds * 1000,
      historyRetentionSeconds: v.historyRetentionSeconds,
    },
  };
}

function tlsConfig(certFile: string, keyFile: string, clientCaFile: string): TlsConfig | undefined {
  if ((certFile === "") !== (keyFile === "")) {
    throw new Error("BATON_TLS_CERT_FILE and BATON_TLS_KEY_FILE go together: set both, or neither");
  }
  if (certFile === "") {
    if (clientCaFile !== "") throw new Error("BATON_TLS_CLIENT_CA_FILE (mutual TLS) needs BATON_TLS_CERT_FILE and BATON_TLS_KEY_FILE");
    return undefined;
  }
  return { certFile, keyFile, ...(clientCaFile !== "" && { clientCaFile }) };
}
