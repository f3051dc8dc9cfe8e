import { type Command, type Noun, commandFlags, commandPaths, flagSpellings, valueFlagSpellings } from "./args.js";

/**
 * What shell completion offers where, read off the command table: the generated scripts carry
 * these lookups and only walk the words typed so far. Keys are command paths as typed (verb
 * aliases included), e.g. "" before the command, "jobs", "jobs ls".
 */

/** Words by key: each arm's keys share its words; a key no arm has gets `otherwise`. */
export interface Lookup {
  arms: { keys: string[]; words: string[] }[];
  otherwise: string[];
}

export interface CompletionTables {
  /** What may come next after a path: nouns, verbs, or the choices of a command's argument. */
  words: Lookup;
  /** The flags of a path. */
  flags: Lookup;
  /** The flags of a path that take a value, so the walk skips their values. */
  valueFlags: Lookup;
  /** The values offered for a flag, keyed "<path> <flag>" for each spelling of the flag. */
  flagValues: Lookup;
}

/** Flags `baton` takes before any command. */
const TOP_FLAGS = ["--help", "-h", "--version", "-v"];

export function completionTables(nouns: Noun[]): CompletionTables {
  const commands = nouns.flatMap((noun) => noun.commands);
  const verbNouns = nouns.filter((noun) => noun.commands.some((command) => command.name !== noun.name));
  const flagSpecs = (command: Command) => Object.entries(commandFlags(command));
  // Before the command is known, a flag that takes a value anywhere is taken to take one here,
  // as main.ts does when it looks for the command word.
  const anyValueFlags = [...new Set(commands.flatMap(valueFlagSpellings))];
  const helpFlags = ["--help", "-h"];
  return {
    words: {
      arms: [
        { keys: [""], words: nouns.map((noun) => noun.name) },
        ...verbNouns.map((noun) => ({ keys: [noun.name], words: noun.commands.flatMap((c) => commandPaths(c).map((p) => p.split(" ").at(-1)!)) })),
        ...commands
          .filter((command) => command.positionals?.[0]?.choices)
          .map((command) => ({ keys: commandPaths(command), words: [...command.positionals![0]!.choices!] })),
      ],
      otherwise: [],
    },
    flags: {
      arms: [
        { keys: [""], words: TOP_FLAGS },
        ...verbNouns.map((noun) => ({ keys: [noun.name], words: helpFlags })),
        ...commands.map((command) => ({
          keys: commandPaths(command),
          words: flagSpecs(command).flatMap(([name, spec]) => flagSpellings(name, spec)),
        })),
      ],
      otherwise: [],
    },
    valueFlags: {
      arms: commands.map((command) => ({ keys: commandPaths(command), words: valueFlagSpellings(command) })),
      otherwise: anyValueFlags,
    },
    flagValues: {
      arms: commands.flatMap((command) =>
        flagSpecs(command).flatMap(([name, spec]) =>
          spec.type === "string" && spec.choices
            ? [{ keys: commandPaths(command).flatMap((path) => flagSpellings(name, spec).map((flag) => `${path} ${flag}`)), words: [...spec.choices] }]
            : [],
        ),
      ),
      otherwise: [],
    },
  };
}
