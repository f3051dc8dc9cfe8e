import type { BrokerConfig } from "./broker/broker.js";

/** Everything `baton serve` can be told, from flags or environment. */
export interface ServerConfig {
  /** PostgreSQL URL; undefined starts the embedded server. */
  databaseUrl: string | undefined;
  port: number;
  host: string;
  dataDir: string;
  maxPayloadBytes: number;
  maxBatchSize: number;
  defaultMaxAttempts: number;
  /** Highest max_in_flight a worker may ask for. */
  maxInFlight: number;
  /** How long a stopping broker waits for in-flight jobs to settle. */
  drainMs: number;
  /** HTTP/2 PING period and the answer it waits for. */
  keepaliveIntervalMs: number;
  keepaliveTimeoutMs: number;
  /** How often each replica looks for due cron schedules (jittered ±20%). */
  schedulerIntervalMs: number;
  broker: BrokerConfig;
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

/** The settings table; README's configuration section lists the same. */
export const settings = {
  port: int("BATON_PORT", 7600, "gRPC, gRPC-Web, Connect and HTTP/1.1 (/healthz) on one port", 0),
  host: text("BATON_HOST", "0.0.0.0", "interface to listen on"),
  dataDir: text("BATON_DATA_DIR", ".baton", "where the embedded PostgreSQL keeps its data"),
  maxPayloadBytes: int("BATON_MAX_PAYLOAD_BYTES", 1024 * 1024, "largest job payload accepted"),
  maxBatchSize: int("BATON_MAX_BATCH_SIZE", 10_000, "most jobs in one EnqueueJobs call"),
  defaultMaxAttempts: int("BATON_DEFAULT_MAX_ATTEMPTS", 25, "attempts of a job that names none"),
  maxInFlight: int("BATON_MAX_IN_FLIGHT", 10_000, "highest max_in_flight a worker stream may ask for"),
  drainSeconds: seconds("BATON_DRAIN_SECONDS", 25, "on SIGTERM, how long in-flight jobs may take to settle"),
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
  schedulerSeconds: seconds("BATON_SCHEDULER_SECONDS", 1, "how often each replica looks for due cron schedules (jittered ±20%)"),
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
  return {
    databaseUrl: env.BATON_DATABASE_URL || env.DATABASE_URL || undefined,
    port: v.port,
    host: v.host,
    dataDir: v.dataDir,
    maxPayloadBytes: v.maxPayloadBytes,
    maxBatchSize: v.maxBatchSize,
    defaultMaxAttempts: v.defaultMaxAttempts,
    maxInFlight: v.maxInFlight,
    drainMs: v.drainSeconds * 1000,
    keepaliveIntervalMs: v.keepaliveSeconds * 1000,
    keepaliveTimeoutMs: v.keepaliveSeconds * 1000,
    schedulerIntervalMs: v.schedulerSeconds * 1000,
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
    },
  };
}
