import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetQueueResponseSchema,
  ListQueuesResponseSchema,
  PauseQueueResponseSchema,
  type Queue,
  type QueueConfig,
  QueueConfigSchema,
  QueueSchema,
  type QueueService,
  ResumeQueueResponseSchema,
  UpdateQueueResponseSchema,
} from "../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { invalidArgument, notFound } from "../errors.js";
import type { Database } from "../store/database.js";
import type { QueueConfigValues, QueueView } from "../store/queue-record.js";
import { queuePage, queueSetPaused, queueUpdateConfig, queueViews } from "../store/queues.js";
import { getQueueHistory } from "./queue-history.js";
import { decodeNamePageToken, encodeNamePageToken, pageSize } from "./page-token.js";
import { positiveSeconds, validateQueueName } from "./validate.js";

/** Highest concurrency, fairness and rate limit of a queue. */
const MAX_LIMIT = 1_000_000;

/** UpdateQueue's field-mask paths and the setting each one names. */
const CONFIG_FIELDS: Record<string, keyof QueueConfigValues> = {
  max_attempts: "maxAttempts",
  retry_base_delay: "retryBaseSeconds",
  retry_max_delay: "retryMaxSeconds",
  default_timeout: "defaultTimeoutSeconds",
  succeeded_retention: "succeededRetentionSeconds",
  dead_retention: "deadRetentionSeconds",
  cancelled_retention: "cancelledRetentionSeconds",
  lease_duration: "leaseSeconds",
  concurrency_limit: "concurrencyLimit",
  rate_limit: "rateLimit",
  fairness_concurrency_limit: "fairnessConcurrencyLimit",
  // The deprecated first name of fairness_concurrency_limit.
  fairness_key_limit: "fairnessConcurrencyLimit",
  fairness_rate_limit: "fairnessRateLimit",
};

export function createQueueService(db: Database): Partial<ServiceImpl<typeof QueueService>> {
  const view = async (name: string): Promise<Queue> => {
    const [found] = await queueViews(db, [name]);
    if (!found) throw notFound(`queue ${name} not found: it has no jobs and no settings`);
    return queueToProto(found);
  };
  return {
    async listQueues(request) {
      const limit = pageSize(request.pageSize);
      const after = request.pageToken === "" ? undefined : decodeNamePageToken("ListQueues", request.pageToken);
      const { queues, lastName } = await queuePage(db, limit, after);
      return create(ListQueuesResponseSchema, {
        queues: queues.map(queueToProto),
        nextPageToken: lastName === undefined ? "" : encodeNamePageToken("ListQueues", lastName),
      });
    },
    async getQueue(request) {
      return create(GetQueueResponseSchema, { queue: await view(validateQueueName(request.queue)) });
    },
    async updateQueue(request) {
      const name = validateQueueName(request.queue);
      const changes = configChanges(request.config ?? create(QueueConfigSchema), request.updateMask?.paths ?? []);
      if (Object.keys(changes).length === 0) throw invalidArgument("nothing to update: set config fields or name them in update_mask");
      await queueUpdateConfig(db, name, changes);
      return create(UpdateQueueResponseSchema, { queue: await view(name) });
    },
    async pauseQueue(request) {
      const name = validateQueueName(request.queue);
      await queueSetPaused(db, name, true);
      return create(PauseQueueResponseSchema, { queue: await view(name) });
    },
    async resumeQueue(request) {
      const name = validateQueueName(request.queue);
      await queueSetPaused(db, name, false);
      return create(ResumeQueueResponseSchema, { queue: await view(name) });
    },
    getQueueHistory: (request) => getQueueHistory(db, request),
  };
}

/** The settings to write: those named by the mask, or every non-zero field without one. */
function configChanges(config: QueueConfig, paths: string[]): Partial<QueueConfigValues> {
  for (const path of paths) {
    if (!(path in CONFIG_FIELDS)) throw invalidArgument(`update_mask path ${JSON.stringify(path.slice(0, 64))} is not a QueueConfig field`);
  }
  const values: QueueConfigValues = {
    maxAttempts: range(config.maxAttempts, 1, 1000, "config.max_attempts"),
    retryBaseSeconds: positiveSeconds(config.retryBaseDelay, "config.retry_base_delay") ?? null,
    retryMaxSeconds: positiveSeconds(config.retryMaxDelay, "config.retry_max_delay") ?? null,
    defaultTimeoutSeconds: positiveSeconds(config.defaultTimeout, "config.default_timeout") ?? null,
    succeededRetentionSeconds: positiveSeconds(config.succeededRetention, "config.succeeded_retention") ?? null,
    deadRetentionSeconds: positiveSeconds(config.deadRetention, "config.dead_retention") ?? null,
    cancelledRetentionSeconds: positiveSeconds(config.cancelledRetention, "config.cancelled_retention") ?? null,
    leaseSeconds: positiveSeconds(config.leaseDuration, "config.lease_duration") ?? null,
    concurrencyLimit: range(config.concurrencyLimit, 1, MAX_LIMIT, "config.concurrency_limit"),
    rateLimit: rate(config.rateLimit, "config.rate_limit"),
    fairnessConcurrencyLimit: fairnessConcurrencyLimit(config),
    fairnessRateLimit: rate(config.fairnessRateLimit, "config.fairness_rate_limit"),
  };
  if (values.leaseSeconds !== null && values.leaseSeconds < 1) throw invalidArgument("config.lease_duration must be at least 1s");
  const named = paths.length > 0 ? paths.map((path) => CONFIG_FIELDS[path]!) : (Object.keys(values) as (keyof QueueConfigValues)[]).filter((k) => values[k] !== null);
  return Object.fromEntries(named.map((key) => [key, values[key]]));
}

/** Zero means unset; anything else must lie in [min, max]. */
function range(value: number, min: number, max: number, field: string): number | null {
  if (value === 0) return null;
  if (value < min || value > max) throw invalidArgument(`${field} must be between ${min} and ${max} (0 resets it)`);
  return value;
}

/**
 * fairness_concurrency_limit, set by that field or by its deprecated first name
 * fairness_key_limit (clients built before the rename); both at once only if they agree.
 */
function fairnessConcurrencyLimit(config: QueueConfig): number | null {
  const limit = range(config.fairnessConcurrencyLimit, 1, MAX_LIMIT, "config.fairness_concurrency_limit");
  const firstName = range(config.fairnessKeyLimit, 1, MAX_LIMIT, "config.fairness_key_limit");
  if (limit !== null && firstName !== null && limit !== firstName) {
    throw invalidArgument(
      `config.fairness_key_limit (${firstName}) and config.fairness_concurrency_limit (${limit}) are one setting under two names: ` +
        "set fairness_concurrency_limit only (fairness_key_limit is its deprecated name)",
    );
  }
  return limit ?? firstName;
}

/**
 * Jobs per second; zero means unset. Bounded like the other limits: the claim turns the rate
 * into a count of tokens, and 1e308 made every claim of the queue fail (integer out of range).
 */
function rate(value: number, field: string): number | null {
  if (value === 0) return null;
  if (!Number.isFinite(value)) throw invalidArgument(`${field} must be a finite number of jobs per second, not ${value}`);
  if (!(value > 0 && value <= MAX_LIMIT)) throw invalidArgument(`${field} must be positive and at most ${MAX_LIMIT} per second (0 resets it)`);
  return value;
}

function queueToProto(view: QueueView): Queue {
  const duration = (seconds: number | null) => (seconds === null ? undefined : durationFromMs(Math.round(seconds * 1000)));
  const c = view.config;
  return create(QueueSchema, {
    name: view.name,
    paused: view.paused,
    ...Object.fromEntries(Object.entries(view.counts).map(([state, n]) => [state, BigInt(n)])),
    oldestAvailableAge: durationFromMs(Math.round(view.oldestAvailableSeconds * 1000)),
    config: create(QueueConfigSchema, {
      maxAttempts: c.maxAttempts ?? 0,
      retryBaseDelay: duration(c.retryBaseSeconds),
      retryMaxDelay: duration(c.retryMaxSeconds),
      defaultTimeout: duration(c.defaultTimeoutSeconds),
      succeededRetention: duration(c.succeededRetentionSeconds),
      deadRetention: duration(c.deadRetentionSeconds),
      cancelledRetention: duration(c.cancelledRetentionSeconds),
      leaseDuration: duration(c.leaseSeconds),
      concurrencyLimit: c.concurrencyLimit ?? 0,
      rateLimit: c.rateLimit ?? 0,
      fairnessConcurrencyLimit: c.fairnessConcurrencyLimit ?? 0,
      fairnessKeyLimit: c.fairnessConcurrencyLimit ?? 0,
      fairnessRateLimit: c.fairnessRateLimit ?? 0,
    }),
  });
}
