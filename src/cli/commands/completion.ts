import type { Command, Noun } from "../args.js";
import { completionTables } from "../completion.js";
import { SHELLS, type Shell, completionScript } from "../completion-scripts.js";
import { ExitCode, UsageError } from "../errors.js";

/**
 * `baton completion bash|zsh|fish`. It is built from the command table it is part of, so the
 * table hands itself over as `nouns` (read when the command runs).
 */
export function completionCommand(nouns: () => Noun[]): Command {
  return {
    name: "completion",
    summary: "Print a shell script that completes baton's commands, flags and their values.",
    positionals: [{ name: "shell", choices: SHELLS }],
    flags: {},
    outputs: [],
    offline: true,
    notes: `The script is generated from the same table baton parses its command line with, so it
completes exactly the commands and flags this version has. Load it in the current shell, or
add the line to your shell's startup file:
  bash  source <(baton completion bash)           (~/.bashrc)
  zsh   source <(baton completion zsh)            (~/.zshrc, after compinit)
  fish  baton completion fish | source            (~/.config/fish/config.fish)`,
    examples: ["baton completion bash > /etc/bash_completion.d/baton", "baton completion zsh > \"${fpath[1]}/_baton\""],
    run({ args, out }) {
      const shell = args[0]!;
      if (!(SHELLS as readonly string[]).includes(shell)) {
        throw new UsageError(`<shell> must be one of ${SHELLS.join(", ")}, got "${shell}"`);
      }
      out.print(completionScript(shell as Shell, completionTables(nouns())));
      return Promise.resolve(ExitCode.ok);
    },
  };
}
