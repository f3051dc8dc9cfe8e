#!/usr/bin/env node
import {
  type Command,
  TABLE_OUTPUTS,
  commandHelp,
  commandPaths,
  flagLines,
  parseCommand,
  sharedFlags,
  synopsis,
  valueFlagSpellings,
} from "./args.js";
import type { Noun } from "./args.js";
import { COMMANDS, COMMAND_GROUPS, findNoun, findVerb, nounCommand } from "./command-table.js";
import { versionCommand } from "./commands/version.js";
import { EXIT_CODES_HELP, ExitCode, UsageError, reportError } from "./errors.js";
import { type Output, createOutput } from "./output.js";

/**
 * `baton <noun> [verb] [args] [flags]`: finds the command in the command table and runs it.
 * `serve` and `migrate` run the broker and its migrations; the client commands talk to a
 * running broker's API.
 */

/** Flags that may come before the command and take a value, so that value is not the command. */
const VALUE_FLAGS = new Set(COMMANDS.flatMap(valueFlagSpellings));
const HELP_FLAGS = new Set(["--help", "-h"]);
const VERSION_FLAGS = new Set(["--version", "-v"]);

/** Help's list of commands, each with its aliases: "jobs list (ls)". */
function commandList(commands: Command[]): string {
  const heads = commands.map((command) => {
    const aliases = commandPaths(command)
      .slice(1)
      .map((path) => path.split(" ").at(-1)!);
    return aliases.length > 0 ? `${synopsis(command)} (${aliases.join(", ")})` : synopsis(command);
  });
  const width = Math.max(...heads.map((head) => head.length)) + 2;
  return commands.map((command, i) => `  ${heads[i]!.padEnd(width)}${command.summary}`).join("\n");
}

const usage = () => `usage: baton <command> [flags]

Baton is a job-queue broker. "baton serve" runs it; the client commands talk to a running
broker over its API.

${COMMAND_GROUPS.map((group) => `${group.title}:\n${commandList(group.nouns.flatMap((noun) => noun.commands))}`).join("\n\n")}

flags of the client commands (-o wide where a table has more columns to show):
${flagLines(sharedFlags({ outputs: TABLE_OUTPUTS })).join("\n")}

Run "baton <command> --help" for a command's flags and examples; "baton --version" prints the
version.

${EXIT_CODES_HELP}
`;

function nounHelp(noun: Noun): string {
  const summary = noun.summary ?? "";
  return `usage: baton ${noun.name} <verb> [flags]

${summary.charAt(0).toUpperCase()}${summary.slice(1)}.

verbs:
${commandList(noun.commands)}

Run "baton ${noun.name} <verb> --help" for its flags and examples.
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
    // `baton --version`: the version command, with whatever else was given (`--json`).
    if (!wantsHelp && argv.some((a) => VERSION_FLAGS.has(a))) {
      return runCommand(versionCommand, argv.filter((a) => !VERSION_FLAGS.has(a)), out);
    }
    process.stdout.write(usage());
    return wantsHelp ? ExitCode.ok : ExitCode.usage;
  }
  const word = argv[at]!;
  const before = argv.slice(0, at);
  const after = argv.slice(at + 1);
  if (word === "help") return help(after);
  const noun = findNoun(word);
  if (!noun) {
    process.stderr.write(`baton: unknown command "${word}"\n\n${usage()}`);
    return ExitCode.usage;
  }
  const single = nounCommand(noun);
  if (single) return runCommand(single, [...before, ...after], out);

  const verb = after[0] !== undefined && !after[0].startsWith("-") ? after[0] : undefined;
  if (verb === undefined) {
    if (wantsHelp) {
      process.stdout.write(nounHelp(noun));
      return ExitCode.ok;
    }
    process.stderr.write(`baton ${word}: missing verb\n\n${nounHelp(noun)}`);
    return ExitCode.usage;
  }
  const command = findVerb(noun, verb);
  if (!command) {
    process.stderr.write(`baton ${word}: unknown verb "${verb}"\n\n${nounHelp(noun)}`);
    return ExitCode.usage;
  }
  return runCommand(command, [...before, ...after.slice(1)], out);
}

/** `baton help [noun [verb]]`, the same text as `--help`. */
function help(words: string[]): Promise<number> {
  const [nounName, verb] = words;
  const noun = nounName === undefined ? undefined : findNoun(nounName);
  if (nounName === undefined) process.stdout.write(usage());
  else if (!noun) throw new UsageError(`no help for "${nounName}": it is not a command`);
  else {
    const command = nounCommand(noun) ?? (verb === undefined ? undefined : findVerb(noun, verb));
    process.stdout.write(command ? commandHelp(command) : nounHelp(noun));
  }
  return Promise.resolve(ExitCode.ok);
}

async function runCommand(command: Command, argv: string[], out: Output): Promise<number> {
  let url: string | undefined;
  try {
    const parsed = parseCommand(command, argv, process.env);
    if (parsed.help) {
      process.stdout.write(commandHelp(command));
      return ExitCode.ok;
    }
    if (parsed.url !== "") url = parsed.url;
    return await command.run({ args: parsed.args, flags: parsed.flags, url: parsed.url, document: parsed.document, wide: parsed.wide, out });
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
