import type { Queryable } from "./database.js";
import { QUEUE_CONFIG_COLUMNS, type QueueConfigValues, type QueueSettings, type QueueView } from "./queue-record.js";
import { intervalSeconds } from "./interval.js";
import { loadStatements, param, row, run, statement } from "./statements.js";

const setting = param<number | null>();
/** QueueUpdateConfig's value of each setting, by the name QueueConfigValues gives it. */
const settings = {
  maxAttempts: setting,
  leaseSeconds: setting,
  retryBaseSeconds: setting,
  retryMaxSeconds: setting,
  defaultTimeoutSeconds: setting,
  succeededRetentionSeconds: setting,
  deadRetentionSeconds: setting,
  cancelledRetentionSeconds: setting,
  concurrencyLimit: setting,
  rateLimit: setting,
  fairnessConcurrencyLimit: setting,
  fairnessRateLimit: setting,
} satisfies Record<keyof QueueConfigValues, typeof setting>;

const sql = loadStatements(new URL("./sql/queues.sql", import.meta.url), {
  QueueListSettings: statement({}, row<{ name: string; paused: boolean; limited: boolean; rate_limit: number | null; fairness_rate_limit: number | null; lease_seconds: string | null }>()),
  QueueStats: statement({ names: param<string[]>() }, row<QueueRow & Record<QueueCount | "oldest_available_seconds", string> & { name: string }>()),
  QueueNamesPage: statement({ afterName: param<string | null>(), limit: param<number>() }, row<{ name: string }>()),
  QueueSetPaused: statement({ name: param<string>(), paused: param<boolean>() }),
  QueueUpdateConfig: statement({
    name: param<string>(),
    columns: param<string[]>(),
    ...settings,
  }),
});

export async function queueListSettings(db: Queryable): Promise<QueueSettings[]> {
  const { rows } = await run(db, sql.QueueListSettings, {});
  return rows.map((row) => ({
    name: row.name,
    paused: row.paused,
    limited: row.limited,
    rateLimit: row.rate_limit,
    fairnessRateLimit: row.fairness_rate_limit,
    leaseSeconds: row.lease_seconds === null ? null : Number(row.lease_seconds),
  }));
}

/** The queues among `names` that have jobs or settings, with their counts and settings, in name order. */
export async function queueViews(db: Queryable, names: string[]): Promise<QueueView[]> {
  const { rows } = await run(db, sql.QueueStats, { names });
  return rows.map((row) => ({
    name: row.name,
    paused: row.paused ?? false,
    config: configOf(row),
    counts: {
      scheduled: Number(row.scheduled),
      available: Number(row.available),
      blocked: Number(row.blocked),
      leased: Number(row.leased),
      succeeded: Number(row.succeeded),
      dead: Number(row.dead),
      cancelled: Number(row.cancelled),
    },
    oldestAvailableSeconds: Number(row.oldest_available_seconds),
  }));
}

type QueueCount = "scheduled" | "available" | "blocked" | "leased" | "succeeded" | "dead" | "cancelled";

export interface QueuePage {
  queues: QueueView[];
  /**
   * The last name of the page when queues follow it, else undefined. Not always the last of
   * `queues`: a queue whose jobs were all deleted between the two statements is left out.
   */
  lastName: string | undefined;
}

/** Up to `limit` queues in name order, named after `afterName` (the last name of the previous page). */
export async function queuePage(db: Queryable, limit: number, afterName?: string): Promise<QueuePage> {
  const { rows } = await run(db, sql.QueueNamesPage, { afterName: afterName ?? null, limit: limit + 1 });
  const names = rows.slice(0, limit).map((row) => row.name);
  return { queues: names.length === 0 ? [] : await queueViews(db, names), lastName: rows.length > limit ? names.at(-1) : undefined };
}

export async function queueSetPaused(db: Queryable, name: string, paused: boolean): Promise<void> {
  await run(db, sql.QueueSetPaused, { name, paused });
}

/** Sets the given settings (a null resets one to the default); the others stay. */
export async function queueUpdateConfig(db: Queryable, name: string, changes: Partial<QueueConfigValues>): Promise<void> {
  const keys = Object.keys(QUEUE_CONFIG_COLUMNS) as (keyof QueueConfigValues)[];
  const values = Object.fromEntries(keys.map((key) => [key, changes[key] ?? null])) as Record<keyof QueueConfigValues, number | null>;
  await run(db, sql.QueueUpdateConfig, { name, columns: keys.filter((key) => key in changes).map((key) => QUEUE_CONFIG_COLUMNS[key]), ...values });
}

/** The settings columns of baton.queues; all null for a queue without a row. */
interface QueueRow {
  paused: boolean | null;
  max_attempts: number | null;
  lease_duration: object | null;
  retry_base_delay: object | null;
  retry_max_delay: object | null;
  default_timeout: object | null;
  succeeded_retention: object | null;
  dead_retention: object | null;
  cancelled_retention: object | null;
  concurrency_limit: number | null;
  rate_limit: number | null;
  fairness_key_limit: number | null;
  fairness_rate_limit: number | null;
}

function configOf(row: QueueRow): QueueConfigValues {
  return {
    maxAttempts: row.max_attempts ?? null,
    leaseSeconds: intervalSeconds(row.lease_duration),
    retryBaseSeconds: intervalSeconds(row.retry_base_delay),
    retryMaxSeconds: intervalSeconds(row.retry_max_delay),
    defaultTimeoutSeconds: intervalSeconds(row.default_timeout),
    succeededRetentionSeconds: intervalSeconds(row.succeeded_retention),
    deadRetentionSeconds: intervalSeconds(row.dead_retention),
    cancelledRetentionSeconds: intervalSeconds(row.cancelled_retention),
    concurrencyLimit: row.concurrency_limit ?? null,
    rateLimit: row.rate_limit ?? null,
    fairnessConcurrencyLimit: row.fairness_key_limit ?? null,
    fairnessRateLimit: row.fairness_rate_limit ?? null,
  };
}
