import type { Command, Noun } from "./args.js";
import { brokerCommands } from "./commands/broker.js";
import { completionCommand } from "./commands/completion.js";
import { enqueueCommands } from "./commands/enqueue.js";
import { jobCommands } from "./commands/jobs.js";
import { queueCommands } from "./commands/queues.js";
import { scheduleCommands } from "./commands/schedules.js";
import { tokenCommands } from "./commands/tokens.js";
import { versionCommand } from "./commands/version.js";
import { workerCommands } from "./commands/workers.js";

/**
 * Every command `baton` knows, in the order help lists them. Parsing, help, shell completion
 * and the documentation test all read this table; nothing else names a command or a flag.
 */

export interface CommandGroup {
  /** The heading in `baton --help`. */
  title: string;
  nouns: Noun[];
}

const single = (command: Command): Noun => ({ name: command.name, commands: [command] });

export const COMMAND_GROUPS: CommandGroup[] = [
  { title: "broker", nouns: brokerCommands.map(single) },
  {
    title: "client commands (they talk to a running broker)",
    nouns: [
      single(enqueueCommands[0]!),
      { name: "jobs", summary: "list, show, cancel, retry, delete and wait for jobs", commands: jobCommands },
      { name: "queues", summary: "show queues, pause and resume them, change their settings", commands: queueCommands },
      { name: "schedules", summary: "create, list, update, pause, resume, trigger and delete cron schedules", commands: scheduleCommands },
      { name: "workers", summary: "show connected worker streams", commands: workerCommands },
      { name: "tokens", summary: "create, list and revoke API tokens (in the database: BATON_DATABASE_URL)", commands: tokenCommands },
    ],
  },
  { title: "this program", nouns: [single(versionCommand), single(completionCommand(() => NOUNS))] },
];

export const NOUNS: Noun[] = COMMAND_GROUPS.flatMap((group) => group.nouns);

export const COMMANDS: Command[] = NOUNS.flatMap((noun) => noun.commands);

export function findNoun(word: string): Noun | undefined {
  return NOUNS.find((noun) => noun.name === word);
}

/** The noun's command itself, when the noun is a command (`enqueue`, `serve`). */
export function nounCommand(noun: Noun): Command | undefined {
  return noun.commands.find((command) => command.name === noun.name);
}

/** A noun's command by its verb or one of the verb's aliases (`jobs ls`). */
export function findVerb(noun: Noun, verb: string): Command | undefined {
  return noun.commands.find((command) => command.name === `${noun.name} ${verb}` || (command.aliases ?? []).includes(verb));
}

/** The verbs of a command, its own first: "list", "ls". */
export function verbsOf(command: Command): string[] {
  return [command.name.split(" ").at(-1)!, ...(command.aliases ?? [])];
}
