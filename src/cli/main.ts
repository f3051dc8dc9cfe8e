#!/usr/bin/env node
import { type Command, GLOBAL_FLAGS, commandHelp, parseCommand } from "./args.js";
import { enqueueCommands } from "./commands/enqueue.js";
import { jobCommands } from "./commands/jobs.js";
import { queueCommands } from "./commands/queues.js";
import { scheduleCommands } from "./commands/schedules.js";
import { tokenCommands } from "./commands/tokens.js";
import { workerCommands } from "./commands/workers.js";
import { EXIT_CODES_HELP, ExitCode, UsageError, reportError } from "./errors.js";
import { type Output, createOutput } from "./output.js";

/**
 * `baton <noun> [verb] [args] [flags]`. `serve` and `migrate` run the broker and its
 * migrations; every other command is a client of a running broker's API.
 */

interface Noun {
  summary: string;
  /** Named "<noun> <verb>", or just "<noun>" for a noun that is itself the command. */
  commands: Command[];
}

const NOUNS: Record<string, Noun> = {
  enqueue: { summary: "create a job", commands: enqueueCommands },
  jobs: { summary: "list, show, cancel, retry and wait for jobs", commands: jobCommands },
  queues: { summary: "show queues, pause and resume them, change their settings", commands: queueCommands },
  schedules: { summary: "create, list and delete cron schedules", commands: scheduleCommands },
  workers: { summary: "show connected worker streams", commands: workerCommands },
  tokens: { summary: "create, list and revoke API tokens (in the database: BATON_DATABASE_URL)", commands: tokenCommands },
};

const SERVER_COMMANDS = new Set(["serve", "migrate"]);
/** Flags that may come before the command and take a value, so that value is not the command. */
const VALUE_FLAGS = new Set(["--url", "--port", "--data-dir"]);
const HELP_FLAGS = new Set(["--help", "-h"]);

function synopsis(command: Command): string {
  return [command.name, ...(command.positionals ?? []).map((p) => (p.optional ? `[<${p.name}>]` : `<${p.name}>`))].join(" ");
}

function commandList(commands: Command[]): string {
  const width = Math.max(...commands.map((c) => synopsis(c).length)) + 2;
  return commands.map((c) => `  ${synopsis(c).padEnd(width)}${c.summary}`).join("\n");
}

const usage = () => `usage: baton <command> [flags]

Baton is a job-queue broker. "baton serve" runs it; the other commands talk to a running
broker over its API.

broker:
  serve     run the broker (embedded PostgreSQL unless BATON_DATABASE_URL or DATABASE_URL is set)
  migrate   apply database migrations and exit

client commands:
${commandList(Object.values(NOUNS).flatMap((n) => n.commands))}

flags of every client command:
${Object.entries(GLOBAL_FLAGS)
  .map(([name, spec]) => `  ${spec.type === "boolean" && spec.short ? `-${spec.short}, ` : ""}--${name}`.padEnd(14) + spec.description)
  .join("\n")}

Run "baton <command> --help" for a command's flags and examples, and "baton serve --help"
for every broker setting.

${EXIT_CODES_HELP}
`;

function nounHelp(name: string, noun: Noun): string {
  return `usage: baton ${name} <verb> [flags]

${noun.summary[0]!.toUpperCase()}${noun.summary.slice(1)}.

verbs:
${commandList(noun.commands)}

Run "baton ${name} <verb> --help" for its flags and examples.
`;
}

/** Index of the command word: the first word that is neither a flag nor a flag's value. */
function findCommand(argv: string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (token === "--") return -1;
    if (VALUE_FLAGS.has(token)) i++;
    else if (!token.startsWith("-")) return i;
  }
  return -1;
}

async function main(argv: string[], out: Output): Promise<number> {
  const at = findCommand(argv);
  const wantsHelp = argv.some((a) => HELP_FLAGS.has(a));
  if (at === -1) {
    process.stdout.write(usage());
    return wantsHelp ? ExitCode.ok : ExitCode.usage;
  }
  const word = argv[at]!;
  const before = argv.slice(0, at);
  const after = argv.slice(at + 1);
  if (SERVER_COMMANDS.has(word)) {
    const { runServerCommand } = await import("./commands/server.js");
    return runServerCommand(argv);
  }
  if (word === "help") return help(after);
  const noun = NOUNS[word];
  if (!noun) {
    process.stderr.write(`baton: unknown command "${word}"\n\n${usage()}`);
    return ExitCode.usage;
  }
  const single = noun.commands.find((c) => c.name === word);
  if (single) return runCommand(single, [...before, ...after], out);

  const verb = after[0] !== undefined && !after[0].startsWith("-") ? after[0] : undefined;
  if (verb === undefined) {
    if (wantsHelp) {
      process.stdout.write(nounHelp(word, noun));
      return ExitCode.ok;
    }
    process.stderr.write(`baton ${word}: missing verb\n\n${nounHelp(word, noun)}`);
    return ExitCode.usage;
  }
  const command = noun.commands.find((c) => c.name === `${word} ${verb}`);
  if (!command) {
    process.stderr.write(`baton ${word}: unknown verb "${verb}"\n\n${nounHelp(word, noun)}`);
    return ExitCode.usage;
  }
  return runCommand(command, [...before, ...after.slice(1)], out);
}

/** `baton help [noun [verb]]`, the same text as `--help`. */
async function help(words: string[]): Promise<number> {
  const [nounName, verb] = words;
  const noun = nounName === undefined ? undefined : NOUNS[nounName];
  if (nounName === undefined) process.stdout.write(usage());
  else if (SERVER_COMMANDS.has(nounName)) return runServerHelp();
  else if (!noun) throw new UsageError(`no help for "${nounName}": it is not a command`);
  else {
    const command = noun.commands.find((c) => c.name === (verb === undefined ? nounName : `${nounName} ${verb}`));
    process.stdout.write(command ? commandHelp(command) : nounHelp(nounName, noun));
  }
  return ExitCode.ok;
}

async function runServerHelp(): Promise<number> {
  const { serverUsage } = await import("./commands/server.js");
  process.stdout.write(serverUsage);
  return ExitCode.ok;
}

async function runCommand(command: Command, argv: string[], out: Output): Promise<number> {
  let url: string | undefined;
  try {
    const parsed = parseCommand(command, argv, process.env);
    if (parsed.help) {
      process.stdout.write(commandHelp(command));
      return ExitCode.ok;
    }
    url = parsed.url;
    return await command.run({ args: parsed.args, flags: parsed.flags, url, json: parsed.json, out });
  } catch (error) {
    out.endProgress();
    return reportError(error, { command: command.name, ...(url !== undefined && { url }) });
  }
}

// `baton jobs list --all | head` closes the pipe early: the reader has what it wanted.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error;
  process.exit(ExitCode.ok);
});
const out = createOutput();
void main(process.argv.slice(2), out)
  .catch((error: unknown) => reportError(error, { command: "" }))
  .then(async (code) => {
    await out.flush();
    process.exit(code);
  });
