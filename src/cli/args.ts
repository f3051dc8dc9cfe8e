import { parseArgs } from "node:util";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobState } from "../../clients/ts/src/gen/baton/v1/job_pb.js";
import { DURATION_HINT, parseDuration } from "./duration.js";
import { EXIT_CODES_HELP, UsageError } from "./errors.js";
import type { DocumentFormat, Output, OutputFormat } from "./output.js";

export const DEFAULT_URL = "http://localhost:7600";

export type FlagSpec =
  | {
      type: "string";
      /** Placeholder shown in help, e.g. "<n>" or "<duration>". */
      value: string;
      description: string;
      /** The flag may be given several times (`--header a=1 --header b=2`). */
      multiple?: boolean;
      short?: string;
      /** The values shell completion offers; the command checks the value itself. */
      choices?: readonly string[];
    }
  | { type: "boolean"; description: string; short?: string };

/** The first word after `baton`: a command itself, or a noun whose commands are its verbs. */
export interface Noun {
  name: string;
  /** For a noun with verbs: what they do, in its help and in completion. */
  summary?: string;
  /** Named "<noun> <verb>", or just "<noun>" for a noun that is itself the command. */
  commands: Command[];
}

export interface PositionalSpec {
  name: string;
  optional?: boolean;
  /** The values shell completion offers; the command checks the value itself. */
  choices?: readonly string[];
}


/** A command that prints a table: documents, or the table with more columns. */
export const TABLE_OUTPUTS: readonly OutputFormat[] = ["json", "yaml", "wide"];
/** A command that prints one record, which already shows everything: documents only. */
export const RECORD_OUTPUTS: readonly OutputFormat[] = ["json", "yaml"];

/** One `baton <noun> [verb]` command: its flags, its help, and what it does. */
export interface Command {
  /** The words after `baton`, e.g. "jobs list". */
  name: string;
  /** Other words for its verb: "ls" for "list". */
  aliases?: string[];
  summary: string;
  positionals?: PositionalSpec[];
  flags: Record<string, FlagSpec>;
  /** What `-o` takes; none means the command prints no data and takes neither `-o` nor `--json`. */
  outputs: readonly OutputFormat[];
  /** Runs without a broker: no --url. */
  offline?: boolean;
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
  /** `-o json|yaml` or `--json`: print the response as one document instead of text. */
  document: DocumentFormat | undefined;
  /** `-o wide`: tables get more columns. */
  wide: boolean;
  out: Output;
}

const URL_FLAG: FlagSpec = { type: "string", value: "<url>", description: `broker address (env BATON_URL, default ${DEFAULT_URL})` };
const HELP_FLAG: FlagSpec = { type: "boolean", short: "h", description: "show this help" };

function outputFlags(outputs: readonly OutputFormat[]): Record<string, FlagSpec> {
  if (outputs.length === 0) return {};
  const documents = outputs.filter((format) => format !== "wide");
  const description = [
    `${documents.join("|")}: the whole response as one document`,
    ...(outputs.includes("wide") ? ["wide: the table with more columns"] : []),
  ].join("; ");
  return {
    output: { type: "string", short: "o", value: "<format>", choices: outputs, description },
    json: { type: "boolean", description: "the same as -o json" },
  };
}

/** The flags a command shares with others, given what it prints and whether it needs a broker. */
export function sharedFlags({ outputs, offline = false }: Pick<Command, "outputs" | "offline">): Record<string, FlagSpec> {
  return { ...(!offline && { url: URL_FLAG }), ...outputFlags(outputs), help: HELP_FLAG };
}

/**
 * Every flag a command takes: its own, then the ones it shares with other commands. Parsing,
 * help and shell completion all read this, so they cannot disagree.
 */
export function commandFlags(command: Command): Record<string, FlagSpec> {
  return { ...command.flags, ...sharedFlags(command) };
}

/** Every way to type a command's words: its name, then its name with each verb alias ("jobs ls"). */
export function commandPaths(command: Command): string[] {
  const words = command.name.split(" ");
  return [command.name, ...(command.aliases ?? []).map((alias) => [...words.slice(0, -1), alias].join(" "))];
}

/** How a flag may be written: `--name`, and `-s` if it has a short form. */
export function flagSpellings(name: string, spec: FlagSpec): string[] {
  return spec.short === undefined ? [`--${name}`] : [`-${spec.short}`, `--${name}`];
}

/** The spellings of a command's flags that take a value. */
export function valueFlagSpellings(command: Command): string[] {
  return Object.entries(commandFlags(command)).flatMap(([name, spec]) => (spec.type === "string" ? flagSpellings(name, spec) : []));
}

/** Parses `argv` (the words after the command's name) against the command's flags. */
export function parseCommand(command: Command, argv: string[], env: NodeJS.ProcessEnv) {
  const specs = commandFlags(command);
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, specs), options: parseArgsOptions(specs), allowPositionals: true, strict: true });
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
  const format = outputFormat(command, flags);
  return {
    help: false as const,
    args: parsed.positionals,
    flags,
    url: command.offline ? "" : brokerUrl(flags, env),
    document: format === "wide" ? undefined : format,
    wide: format === "wide",
  };
}

/** node:util parseArgs options for flag specs. */
function parseArgsOptions(specs: Record<string, FlagSpec>) {
  return Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      {
        type: spec.type,
        ...(spec.type === "string" && { multiple: spec.multiple ?? false }),
        ...(spec.short !== undefined && { short: spec.short }),
      },
    ]),
  );
}

function brokerUrl(flags: Flags, env: NodeJS.ProcessEnv): string {
  const url = flags.string("url") ?? env.BATON_URL ?? DEFAULT_URL;
  if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`--url must be an http:// or https:// address, got "${url}"`);
  return url.replace(/\/+$/, "");
}

/** `-o`/`--output`, or `--json` as its shorthand; undefined for the command's default text. */
function outputFormat(command: Command, flags: Flags): OutputFormat | undefined {
  if (command.outputs.length === 0) return undefined;
  const format = flags.choice("output", command.outputs, "-o/--output");
  if (flags.bool("json") && format !== undefined && format !== "json") {
    throw new UsageError(`--json asks for -o json: give either --json or -o ${format}, not both`);
  }
  return flags.bool("json") ? "json" : format;
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

  /** A value from a fixed set; `label` names the flag in the error (default `--name`). */
  choice<T extends string>(name: string, allowed: readonly T[], label = `--${name}`): T | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(text)) {
      throw new UsageError(`${label} must be one of ${allowed.join(", ")}, got "${text}"`);
    }
    return text as T;
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

  /** A state flag's value, as parseState takes it. */
  state(name: string, allowed: JobState[] = STATES): JobState | undefined {
    const text = this.string(name);
    return text === undefined ? undefined : parseState(name, text, allowed);
  }

  /** Every value of a repeatable state flag, each as state() takes it. */
  states(name: string, allowed: JobState[] = STATES): JobState[] {
    return this.list(name).map((text) => parseState(name, text, allowed));
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

/** A job state by its short name (`dead`), its enum name (`JOB_STATE_DEAD`), any case. */
function parseState(name: string, text: string, allowed: JobState[]): JobState {
  const key = text.toUpperCase().replace(/^JOB_STATE_/, "");
  const state = JobState[key as keyof typeof JobState] as JobState | undefined;
  if (state === undefined || !allowed.includes(state)) {
    const names = allowed.map((s) => JobState[s].toLowerCase()).join(", ");
    throw new UsageError(`--${name} must be one of ${names}, got "${text}"`);
  }
  return state;
}

/** Job states a command may filter by, in lifecycle order. */
const STATES = [
  JobState.SCHEDULED,
  JobState.AVAILABLE,
  JobState.BLOCKED,
  JobState.LEASED,
  JobState.SUCCEEDED,
  JobState.DEAD,
  JobState.CANCELLED,
];

/** The short names of STATES, for help and shell completion. */
export const STATE_NAMES: readonly string[] = STATES.map((s) => JobState[s].toLowerCase());

/** Job ids are decimal strings; checking here turns a typo into a usage error, not a round trip. */
export function jobIdArg(text: string): string {
  if (!/^[1-9]\d{0,18}$/.test(text)) throw new UsageError(`"${text}" is not a job id (ids are positive integers)`);
  return text;
}

/** The command line of a command: its words and positionals. */
export function synopsis(command: Command): string {
  const positionals = (command.positionals ?? []).map((p) => (p.optional ? `[<${p.name}>]` : `<${p.name}>`));
  return [command.name, ...positionals].join(" ");
}

/** `--help` text of one command. */
export function commandHelp(command: Command): string {
  const lines = [`usage: baton ${synopsis(command)} [flags]`, ""];
  const aliases = commandPaths(command).slice(1);
  if (aliases.length > 0) lines.push(`aliases: ${aliases.map((alias) => `baton ${alias}`).join(", ")}`, "");
  lines.push(command.summary, "", "flags:", ...flagLines(commandFlags(command)), "");
  if (command.notes) lines.push(command.notes, "");
  lines.push("examples:", ...command.examples.map((e) => `  ${e}`), "", EXIT_CODES_HELP, "");
  return lines.join("\n");
}

/** Flags as aligned `  -s, --name <value>  description` lines. */
export function flagLines(flags: Record<string, FlagSpec>): string[] {
  const heads = Object.entries(flags).map(([name, spec]) => {
    const short = spec.short ? `-${spec.short}, ` : "";
    const value = spec.type === "string" ? ` ${spec.value}` : "";
    const repeat = spec.type === "string" && spec.multiple ? " ..." : "";
    return [`  ${short}--${name}${value}${repeat}`, spec.description] as const;
  });
  const width = Math.max(...heads.map(([head]) => head.length)) + 2;
  return heads.map(([head, description]) => head.padEnd(width) + description);
}
