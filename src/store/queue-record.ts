/** Per-queue settings that override the broker's defaults; null means "the default". */
export interface QueueConfigValues {
  maxAttempts: number | null;
  leaseSeconds: number | null;
  retryBaseSeconds: number | null;
  retryMaxSeconds: number | null;
  defaultTimeoutSeconds: number | null;
  succeededRetentionSeconds: number | null;
  deadRetentionSeconds: number | null;
  cancelledRetentionSeconds: number | null;
  concurrencyLimit: number | null;
  rateLimit: number | null;
  /** Most jobs of one fairness key running at once (QueueConfig.fairness_concurrency_limit). */
  fairnessConcurrencyLimit: number | null;
  /** Most jobs of one fairness key started per second. */
  fairnessRateLimit: number | null;
}

/** The columns of baton.queues that QueueConfigValues maps to, in the same order. */
export const QUEUE_CONFIG_COLUMNS = {
  maxAttempts: "max_attempts",
  leaseSeconds: "lease_duration",
  retryBaseSeconds: "retry_base_delay",
  retryMaxSeconds: "retry_max_delay",
  defaultTimeoutSeconds: "default_timeout",
  succeededRetentionSeconds: "succeeded_retention",
  deadRetentionSeconds: "dead_retention",
  cancelledRetentionSeconds: "cancelled_retention",
  concurrencyLimit: "concurrency_limit",
  rateLimit: "rate_limit",
  // The column keeps the setting's first name (see migration 0017_fairness_limits).
  fairnessConcurrencyLimit: "fairness_key_limit",
  fairnessRateLimit: "fairness_rate_limit",
} as const satisfies Record<keyof QueueConfigValues, string>;

export interface QueueView {
  name: string;
  paused: boolean;
  config: QueueConfigValues;
  counts: Record<"scheduled" | "available" | "blocked" | "leased" | "succeeded" | "dead" | "cancelled", number>;
  oldestAvailableSeconds: number;
}

/** What the broker keeps in memory about a configured queue. */
export interface QueueSettings {
  name: string;
  paused: boolean;
  /** Has a concurrency, rate or fairness limit: claims go through the locked path. */
  limited: boolean;
  rateLimit: number | null;
  fairnessRateLimit: number | null;
  leaseSeconds: number | null;
}
