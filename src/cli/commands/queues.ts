import { type DescMessage, type MessageShape, create } from "@bufbuild/protobuf";
import { FieldMaskSchema, durationFromMs, durationMs, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  GetQueueHistoryResponseSchema,
  GetQueueResponseSchema,
  ListQueuesResponseSchema,
  PauseQueueResponseSchema,
  type Queue,
  type QueueConfig,
  QueueConfigSchema,
  ResumeQueueResponseSchema,
  UpdateQueueResponseSchema,
} from "../../../clients/ts/src/gen/baton/v1/queue_service_pb.js";
import { MAX_PAGE_SIZE, allPages } from "../../../clients/ts/src/pages.js";
import type { BatonServices } from "../../../clients/ts/src/services.js";
import { type Command, type CommandInput, type FlagSpec, type Flags, RECORD_OUTPUTS, TABLE_OUTPUTS } from "../args.js";
import { connect } from "../client.js";
import { ExitCode, UsageError } from "../errors.js";
import { type Column, details, durationText, table } from "../output.js";

const queueArg = [{ name: "queue" }];

const COUNT_COLUMNS: [string, (q: Queue) => bigint][] = [
  ["SCHEDULED", (q) => q.scheduled],
  ["AVAILABLE", (q) => q.available],
  ["BLOCKED", (q) => q.blocked],
  ["LEASED", (q) => q.leased],
  ["SUCCEEDED", (q) => q.succeeded],
  ["DEAD", (q) => q.dead],
  ["CANCELLED", (q) => q.cancelled],
];

function oldestWait(queue: Queue): string {
  return queue.oldestAvailableAge && durationMs(queue.oldestAvailableAge) > 0 ? durationText(queue.oldestAvailableAge) : "-";
}

/** `wide` adds the settings that most change how a queue runs. */
function queueTable(queues: Queue[], wide: boolean): string {
  const wideSettings = wide ? SETTINGS.filter((s) => WIDE_SETTINGS.includes(s.flag)) : [];
  const columns: Column[] = [
    { header: "QUEUE" },
    { header: "STATUS" },
    ...COUNT_COLUMNS.map(([header]) => ({ header, align: "right" as const })),
    { header: "OLDEST WAIT" },
    ...wideSettings.map((s) => ({ header: s.flag.toUpperCase().replace(/-/g, " ") })),
  ];
  return table(
    columns,
    queues.map((q) => [
      q.name,
      q.paused ? "paused" : "active",
      ...COUNT_COLUMNS.map(([, count]) => String(count(q))),
      oldestWait(q),
      ...wideSettings.map((s) => settingText(q.config, s, "-")),
    ]),
  );
}

/**
 * Each setting `queues update` can change: its flag, its QueueConfig field and FieldMask path.
 * The value "default" resets a setting (its path goes in the mask, its field stays unset).
 */
interface Setting {
  flag: string;
  path: string;
  field: keyof QueueConfig;
  kind: "int" | "number" | "duration";
  description: string;
  /** How a zero value reads in `queues get`. */
  zero: string;
  /** The flag is an old name of this other one: it still sets the setting, but is not shown. */
  deprecatedFor?: string;
}

const SETTINGS: Setting[] = [
  { flag: "max-attempts", path: "max_attempts", field: "maxAttempts", kind: "int", zero: "broker default", description: "attempts of a job that names none" },
  { flag: "lease", path: "lease_duration", field: "leaseDuration", kind: "duration", zero: "broker default", description: "lease length of the queue's jobs" },
  { flag: "retry-base", path: "retry_base_delay", field: "retryBaseDelay", kind: "duration", zero: "broker default", description: "first retry delay; doubles per attempt, with jitter" },
  { flag: "retry-max", path: "retry_max_delay", field: "retryMaxDelay", kind: "duration", zero: "broker default", description: "longest retry delay" },
  { flag: "default-timeout", path: "default_timeout", field: "defaultTimeout", kind: "duration", zero: "none", description: "timeout of an attempt whose job names none" },
  { flag: "succeeded-retention", path: "succeeded_retention", field: "succeededRetention", kind: "duration", zero: "broker default", description: "how long SUCCEEDED jobs are kept" },
  { flag: "dead-retention", path: "dead_retention", field: "deadRetention", kind: "duration", zero: "broker default", description: "how long DEAD jobs are kept" },
  { flag: "cancelled-retention", path: "cancelled_retention", field: "cancelledRetention", kind: "duration", zero: "broker default", description: "how long CANCELLED jobs are kept" },
  { flag: "concurrency-limit", path: "concurrency_limit", field: "concurrencyLimit", kind: "int", zero: "none", description: "most jobs running at once, across replicas (0: no limit)" },
  { flag: "rate-limit", path: "rate_limit", field: "rateLimit", kind: "number", zero: "none", description: "most jobs started per second, across replicas (0: no limit)" },
  { flag: "fairness-concurrency-limit", path: "fairness_concurrency_limit", field: "fairnessConcurrencyLimit", kind: "int", zero: "none", description: "most jobs of one fairness key running at once, across replicas (0: no limit)" },
  { flag: "fairness-rate-limit", path: "fairness_rate_limit", field: "fairnessRateLimit", kind: "number", zero: "none", description: "most jobs of one fairness key started per second, across replicas (0: no limit)" },
  {
    flag: "fairness-key-limit",
    path: "fairness_key_limit",
    field: "fairnessKeyLimit",
    kind: "int",
    zero: "none",
    description: "deprecated name of --fairness-concurrency-limit",
    deprecatedFor: "fairness-concurrency-limit",
  },
];

/** The settings under their current names, as `queues get` shows them. */
const CURRENT_SETTINGS = SETTINGS.filter((s) => s.deprecatedFor === undefined);

/** `zero` replaces the setting's own wording of an unset value, e.g. "-" in a table. */
function settingText(config: QueueConfig | undefined, setting: Setting, zero = setting.zero): string {
  const value = config?.[setting.field];
  if (value === undefined) return zero;
  if (typeof value === "number") {
    if (value === 0) return zero;
    return setting.kind === "number" ? `${value}/s` : String(value);
  }
  const ms = durationMs(value as Parameters<typeof durationMs>[0]);
  return ms === 0 ? zero : durationText(value as Parameters<typeof durationMs>[0]);
}

/** The settings `queues list -o wide` shows (in SETTINGS' order): attempts, lease and the limits. */
const WIDE_SETTINGS = ["concurrency-limit", "rate-limit", "fairness-concurrency-limit", "fairness-rate-limit", "max-attempts", "lease"];

function queueDetails(queue: Queue): string {
  return details([
    ["queue", queue.name],
    ["status", queue.paused ? "paused (nothing is delivered until resumed)" : "active"],
    ...COUNT_COLUMNS.map(([header, count]): [string, string] => [header.toLowerCase(), String(count(queue))]),
    ["oldest wait", oldestWait(queue)],
    ...CURRENT_SETTINGS.map((s): [string, string] => [s.flag, settingText(queue.config, s)]),
  ]);
}

const list: Command = {
  name: "queues list",
  aliases: ["ls"],
  summary: "List queues with job counts per state.",
  notes: "OLDEST WAIT is how long the oldest due AVAILABLE job has waited. -o wide adds the queue's limits,\nmax attempts and lease (- where the broker's default applies).",
  flags: {},
  outputs: TABLE_OUTPUTS,
  examples: ["baton queues list", "baton queues ls -o wide", "baton queues list --json | jq '.queues[] | select(.dead != \"0\") | .name'"],
  async run({ url, document, wide, out }) {
    const client = connect(url).queues;
    const queues = await allPages((pageToken) => client.listQueues({ pageSize: MAX_PAGE_SIZE, pageToken }), (page) => page.queues);
    if (document) out.message(document, ListQueuesResponseSchema, create(ListQueuesResponseSchema, { queues }));
    else if (queues.length === 0) out.note("no queues");
    else out.print(queueTable(queues, wide));
    return ExitCode.ok;
  },
};

/**
 * Prints a reply that carries one queue: the whole reply as a document, or the queue's details.
 */
function printQueueReply<Desc extends DescMessage>(
  { document, out }: CommandInput,
  schema: Desc,
  reply: MessageShape<Desc> & { queue?: Queue },
): number {
  if (document) out.message(document, schema, reply);
  else out.print(queueDetails(reply.queue!));
  return ExitCode.ok;
}

/** A command that makes one call about the named queue and prints the queue it answers with. */
function queueCommand<Desc extends DescMessage>(
  command: Pick<Command, "name" | "summary" | "notes" | "examples">,
  schema: Desc,
  call: (queues: BatonServices["queues"], queue: string) => Promise<MessageShape<Desc> & { queue?: Queue }>,
): Command {
  return {
    ...command,
    positionals: queueArg,
    flags: {},
    outputs: RECORD_OUTPUTS,
    async run(input) {
      return printQueueReply(input, schema, await call(connect(input.url).queues, input.args[0]!));
    },
  };
}

const get = queueCommand(
  { name: "queues get", summary: "Show a queue: status, job counts and settings.", examples: ["baton queues get emails"] },
  GetQueueResponseSchema,
  (queues, queue) => queues.getQueue({ queue }),
);

const pause = queueCommand(
  {
    name: "queues pause",
    summary: "Stop delivering a queue's jobs (enqueueing still works).",
    notes: "The pause holds on every broker replica until \"baton queues resume\".",
    examples: ["baton queues pause emails"],
  },
  PauseQueueResponseSchema,
  (queues, queue) => queues.pauseQueue({ queue }),
);

const resume = queueCommand(
  { name: "queues resume", summary: "Deliver a paused queue's jobs again.", examples: ["baton queues resume emails"] },
  ResumeQueueResponseSchema,
  (queues, queue) => queues.resumeQueue({ queue }),
);

const update: Command = {
  name: "queues update",
  summary: "Change a queue's settings (only those given as flags).",
  positionals: queueArg,
  flags: Object.fromEntries(
    SETTINGS.map((s): [string, FlagSpec] => [
      s.flag,
      { type: "string", value: s.kind === "duration" ? "<duration>" : "<n>", description: s.description },
    ]),
  ),
  outputs: RECORD_OUTPUTS,
  notes: 'Give "default" as a value to reset a setting to the broker\'s default.',
  examples: [
    "baton queues update emails --concurrency-limit 5 --rate-limit 10 --dead-retention 7d",
    "baton queues update renders --fairness-concurrency-limit 2 --fairness-rate-limit 5",
    "baton queues update emails --lease default",
  ],
  async run(input) {
    const { config, paths } = configFromFlags(input.flags);
    if (paths.length === 0) throw new UsageError(`nothing to update: give at least one of ${CURRENT_SETTINGS.map((s) => `--${s.flag}`).join(", ")}`);
    const reply = await connect(input.url).queues.updateQueue({
      queue: input.args[0]!,
      config,
      updateMask: create(FieldMaskSchema, { paths }),
    });
    return printQueueReply(input, UpdateQueueResponseSchema, reply);
  },
};

/** The QueueConfig and update_mask paths for exactly the settings given on the command line. */
function configFromFlags(flags: Flags): { config: QueueConfig; paths: string[] } {
  const config = create(QueueConfigSchema);
  const paths: string[] = [];
  for (const setting of SETTINGS) {
    const text = flags.string(setting.flag);
    if (text === undefined) continue;
    paths.push(setting.path);
    if (text === "default") continue;
    const target = config as unknown as Record<string, unknown>;
    if (setting.kind === "duration") target[setting.field] = durationFromMs(flags.durationMs(setting.flag)!);
    else if (setting.kind === "int") target[setting.field] = flags.int(setting.flag, { min: 0 });
    else target[setting.field] = flags.number(setting.flag, { min: 0 });
  }
  return { config, paths };
}

const history: Command = {
  name: "queues history",
  summary: "Show jobs enqueued, succeeded, retried, dead and cancelled per time step.",
  notes:
    "Without a queue, every queue together. The broker keeps these counts per minute for every replica\n" +
    "(BATON_HISTORY_RETENTION_SECONDS, 7 days by default); the last row is the step under way.",
  positionals: [{ name: "queue", optional: true }],
  flags: {
    window: { type: "string", value: "<duration>", description: "how far back (default 1h, at most 31d)" },
    step: { type: "string", value: "<duration>", description: "width of each row, whole minutes (default: at most 60 rows)" },
  },
  outputs: TABLE_OUTPUTS,
  examples: ["baton queues history emails", "baton queues history --window 24h --step 1h", "baton queues history emails -o json"],
  async run({ url, args, flags, document, out }) {
    const reply = await connect(url).queues.getQueueHistory({ queue: args[0] ?? "", window: flags.duration("window"), step: flags.duration("step") });
    if (document) {
      out.message(document, GetQueueHistoryResponseSchema, reply);
      return ExitCode.ok;
    }
    const counts = ["enqueued", "succeeded", "retried", "dead", "cancelled"] as const;
    out.print(
      table(
        [{ header: "START" }, ...counts.map((c) => ({ header: c.toUpperCase(), align: "right" as const }))],
        reply.points.map((p) => [timestampDate(p.startTime!).toISOString().replace(/:00\.000Z$/, "Z"), ...counts.map((c) => String(p[c]))]),
      ),
    );
    return ExitCode.ok;
  },
};

export const queueCommands: Command[] = [list, get, pause, resume, update, history];
