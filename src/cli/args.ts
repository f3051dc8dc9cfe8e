import { parseArgs } from "node:util";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { DURATION_HINT, parseDuration } from "./duration.js";
import { EXIT_CODES_HELP, UsageError } from "./errors.js";
import type { Output } from "./output.js";

export const DEFAULT_URL = "http://localhost:7600";

export type FlagSpec =
  | {
      type: "string";
      /** Placeholder shown in help, e.g. "<n>" or "<duration>". */
      value: string;
      description: string;
      /** The flag may be given several times (`--header a=1 --header b=2`). */
      multiple?: boolean;
    }
  | { type: "boolean"; description: string; short?: string };

export interface PositionalSpec {
  name: string;
  optional?: boolean;
}

/** One `baton <noun> [verb]` command: its flags, its help, and what it does. */
export interface Command {
  /** The words after `baton`, e.g. "jobs list". */
  name: string;
  summary: string;
  positionals?: PositionalSpec[];
  flags: Record<string, FlagSpec>;
  /** Paragraphs printed after the flags in `--help`. */
  notes?: string;
  examples: string[];
  run(input: CommandInput): Promise<number>;
}

export interface CommandInput {
  args: string[];
  flags: Flags;
  /** Broker address: --url, else BATON_URL, else http://localhost:7600. */
  url: string;
  /** --json: print the response as protobuf JSON instead of tables. */
  json: boolean;
  out: Output;
}

/** Flags every client command takes. */
export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  url: { type: "string", value: "<url>", description: `broker address (env BATON_URL, default ${DEFAULT_URL})` },
  json: { type: "boolean", description: "print the response as protobuf JSON (one document) instead of a table" },
  help: { type: "boolean", short: "h", description: "show this help" },
};

/** Parses `argv` (the words after the command's name) against the command's flags. */
export function parseCommand(command: Command, argv: string[], env: NodeJS.ProcessEnv) {
  const specs = { ...command.flags, ...GLOBAL_FLAGS };
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      spec.type === "string"
        ? { type: "string" as const, multiple: spec.multiple ?? false }
        : { type: "boolean" as const, ...(spec.short !== undefined && { short: spec.short }) },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, specs), options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(cleanParseError(error));
  }
  const flags = new Flags(parsed.values as FlagValues);
  if (flags.bool("help")) return { help: true as const };
  const positionals = command.positionals ?? [];
  const required = positionals.filter((p) => !p.optional).length;
  if (parsed.positionals.length < required) {
    throw new UsageError(`missing <${positionals[parsed.positionals.length]!.name}>`);
  }
  if (parsed.positionals.length > positionals.length) {
    throw new UsageError(`unexpected argument "${parsed.positionals[positionals.length]}"`);
  }
  const url = flags.string("url") ?? env.BATON_URL ?? DEFAULT_URL;
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be an http:// or https:// address, got "${url}"`);
  return { help: false as const, args: parsed.positionals, flags, url: url.replace(/\/+$/, ""), json: flags.bool("json") };
}

/**
 * node:util parseArgs refuses `--priority -1` as ambiguous; a negative number after a flag
 * that takes a value is that value.
 */
function joinNegativeValues(argv: string[], specs: Record<string, FlagSpec>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const next = argv[i + 1];
    const spec = token.startsWith("--") ? specs[token.slice(2)] : undefined;
    if (spec?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else {
      out.push(token);
    }
  }
  return out;
}

function cleanParseError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const unknown = /Unknown option '([^']+)'/.exec(message);
  if (unknown) return `unknown flag ${unknown[1]}`;
  const missing = /Option '(--[\w-]+)(?: <value>)?' argument missing/.exec(message);
  if (missing) return `${missing[1]} needs a value`;
  const noValue = /Option '(--[\w-]+)' does not take an argument/.exec(message);
  if (noValue) return `${noValue[1]} does not take a value`;
  return message.split("\n")[0]!;
}

type FlagValues = Record<string, string | boolean | string[] | undefined>;

/** Typed access to parsed flags; a malformed value is a UsageError naming the flag. */
export class Flags {
  constructor(private readonly values: FlagValues) {}

  has(name: string): boolean {
    const value = this.values[name];
    return value !== undefined && value !== false;
  }

  /** How many of `names` were given. */
  count(...names: string[]): number {
    return names.filter((n) => this.has(n)).length;
  }

  bool(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === "string" ? value : undefined;
  }

  list(name: string): string[] {
    const value = this.values[name];
    return Array.isArray(value) ? value : typeof value === "string" ? [value] : [];
  }

  int(name: string, range: { min?: number; max?: number } = {}): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    const min = range.min ?? -2147483648;
    const max = range.max ?? 2147483647;
    const n = Number(text);
    if (!/^-?\d+$/.test(text) || n < min || n > max) {
      throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
    }
    return n;
  }

  number(name: string, range: { min?: number } = {}): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    const n = Number(text);
    if (text.trim() === "" || !Number.isFinite(n) || n < (range.min ?? -Infinity)) {
      throw new UsageError(`--${name} must be a number${range.min !== undefined ? ` >= ${range.min}` : ""}, got "${text}"`);
    }
    return n;
  }

  durationMs(name: string): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === undefined) throw new UsageError(`--${name} must be ${DURATION_HINT}, got "${text}"`);
    return ms;
  }

  duration(name: string): Duration | undefined {
    const ms = this.durationMs(name);
    return ms === undefined ? undefined : durationFromMs(ms);
  }

  timestamp(name: string): Timestamp | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    const ms = Date.parse(text);
    if (!/^\d{4}-\d{2}-\d{2}/.test(text) || Number.isNaN(ms)) {
      throw new UsageError(`--${name} must be an ISO 8601 time like 2030-01-31T09:00:00Z, got "${text}"`);
    }
    return timestampFromDate(new Date(ms));
  }

  /** A job state by its short name (`dead`), its enum name (`JOB_STATE_DEAD`), any case. */
  state(name: string, allowed: JobState[] = STATES): JobState | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    const key = text.toUpperCase().replace(/^JOB_STATE_/, "");
    const state = JobState[key as keyof typeof JobState] as JobState | undefined;
    if (state === undefined || !allowed.includes(state)) {
      const names = allowed.map((s) => JobState[s].toLowerCase()).join(", ");
      throw new UsageError(`--${name} must be one of ${names}, got "${text}"`);
    }
    return state;
  }

  /** `k=v` pairs of a repeatable flag. */
  pairs(name: string): Record<string, string> {
    const pairs: Record<string, string> = {};
    for (const item of this.list(name)) {
      const eq = item.indexOf("=");
      if (eq <= 0) throw new UsageError(`--${name} must look like key=value, got "${item}"`);
      pairs[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return pairs;
  }
}

const STATES = [
  JobState.SCHEDULED,
  JobState.AVAILABLE,
  JobState.BLOCKED,
  JobState.LEASED,
  JobState.SUCCEEDED,
  JobState.DEAD,
  JobState.CANCELLED,
];

/** Job ids are decimal strings; checking here turns a typo into a usage error, not a round trip. */
export function jobIdArg(text: string): string {
  if (!/^[1-9]\d{0,18}$/.test(text)) throw new UsageError(`"${text}" is not a job id (ids are positive integers)`);
  return text;
}

/** `--help` text of one command. */
export function commandHelp(command: Command): string {
  const positionals = (command.positionals ?? []).map((p) => (p.optional ? `[<${p.name}>]` : `<${p.name}>`));
  const lines = [`usage: baton ${[command.name, ...positionals].join(" ")} [flags]`, "", command.summary, ""];
  lines.push("flags:", ...flagLines({ ...command.flags, ...GLOBAL_FLAGS }), "");
  if (command.notes) lines.push(command.notes, "");
  lines.push("examples:", ...command.examples.map((e) => `  ${e}`), "", EXIT_CODES_HELP, "");
  return lines.join("\n");
}

function flagLines(flags: Record<string, FlagSpec>): string[] {
  const heads = Object.entries(flags).map(([name, spec]) => {
    const short = spec.type === "boolean" && spec.short ? `-${spec.short}, ` : "";
    const value = spec.type === "string" ? ` ${spec.value}` : "";
    const repeat = spec.type === "string" && spec.multiple ? " ..." : "";
    return [`  ${short}--${name}${value}${repeat}`, spec.description] as const;
  });
  const width = Math.max(...heads.map(([head]) => head.length)) + 2;
  return heads.map(([head, description]) => head.padEnd(width) + description);
}
