/**
 * The documentation cannot drift from the code it shows: every `baton` command line in a shell
 * block of README.md and docs/ names a real command with flags it takes, and every BATON_*
 * variable the documentation names exists in the code. (The walkthrough's programs run in
 * examples.test.ts, the TypeScript, Go and Python blocks in snippets.test.ts; the production
 * build's commands in scripts/check-production-build.sh.)
 */
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import { commandFlags } from "../src/cli/args.js";
import { findNoun, findVerb, nounCommand } from "../src/cli/command-table.js";
import { documents, parseCodeBlocks, readCodeBlocks } from "./helpers/snippets.js";

const root = path.resolve(import.meta.dirname, "..");

/** The flags a command line may give, or undefined for a command that does not exist. */
function flagsOf(words: string[]): Set<string> | undefined {
  if (words[0] === "help" || words[0] === "--help" || words[0] === "-h") return new Set();
  // `baton --version` is `baton version`.
  const noun = findNoun(words[0] === "--version" || words[0] === "-v" ? "version" : words[0]!);
  const command = noun && (nounCommand(noun) ?? (words[1] === undefined ? undefined : findVerb(noun, words[1])));
  return command && new Set(Object.keys(commandFlags(command)));
}

/** The `baton …` invocations of a document's shell blocks, with where they stand. */
function invocations(file: string): { where: string; words: string[] }[] {
  const found: { where: string; words: string[] }[] = [];
  for (const block of readCodeBlocks(file).filter((b) => b.language === "sh")) {
    // Continuation lines joined, comments dropped, each command of a pipeline or list apart.
    const lines = block.code.replace(/\\\n/g, " ").split("\n");
    for (const line of lines) {
      const code = line.replace(/\s#.*$/, "");
      // `baton` as a command: at the start, in $(…), or after a pipe or a list operator (not,
      // say, a Helm release called baton).
      for (const match of code.matchAll(/(?:^\s*|\$\(|[|;&]\s*)baton\s+([^|;&)<>]*)/g)) {
        const words = match[1]!.trim().split(/\s+/).filter(Boolean);
        if (words.length > 0) found.push({ where: `${file}: ${line.trim()}`, words });
      }
    }
  }
  return found;
}

test("every baton command line in the documentation names a command and flags it takes", () => {
  const problems: string[] = [];
  let checked = 0;
  for (const file of documents) {
    for (const { where, words } of invocations(file)) {
      checked += 1;
      const flags = flagsOf(words);
      if (!flags) {
        problems.push(`${where}: no command "${words.slice(0, 2).join(" ")}"`);
        continue;
      }
      for (const word of words) {
        const flag = /^--([a-z][a-z-]*)/.exec(word)?.[1];
        if (flag !== undefined && !flags.has(flag)) problems.push(`${where}: --${flag} is not a flag of it`);
      }
    }
  }
  expect(problems).toEqual([]);
  // The documentation does show commands: a parser that found none would pass vacuously.
  expect(checked).toBeGreaterThan(15);
});

test("every BATON_* variable the documentation names is read somewhere in the code", () => {
  const code = ["src", "test", "scripts", "bench", "clients/ts/src", "clients/go", "clients/python/tests", "clients/python/src", ".ci", "deploy"]
    .flatMap((dir) => readdirSync(path.join(root, dir), { recursive: true, encoding: "utf8" }).map((file) => path.join(dir, file)))
    .filter((file) => /\.(ts|mjs|sh|yaml|tpl|json|go|py)$|^\.ci\/run$/.test(file) && !/node_modules|\/gen\/|\.venv/.test(file))
    .map((file) => readFileSync(path.join(root, file), "utf8"))
    .join("\n");
  const named = new Set(documents.flatMap((file) => [...readFileSync(path.join(root, file), "utf8").matchAll(/\bBATON_[A-Z][A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0])));
  expect(named.size).toBeGreaterThan(30);
  expect([...named].filter((name) => !code.includes(name))).toEqual([]);
});

test("snippet markers are read from the line before a block; a wrong one is an error naming its line", () => {
  const page = [
    ...["<!-- snippet: given ts", "declare const id: string;", "-->", "", "<!-- snippet: compile -->", "```ts", "console.log(id);", "```"],
    ...["", "```sh", "baton jobs get 1", "```", "<!-- snippet: fragment -->", "```typescript", "function f(id: string): Job;", "```"],
  ];
  expect(parseCodeBlocks(page.join("\n"), "page.md")).toEqual([
    { file: "page.md", line: 6, language: "ts", code: "console.log(id);\n", mode: "compile", given: "declare const id: string;\n" },
    { file: "page.md", line: 10, language: "sh", code: "baton jobs get 1\n", mode: "run", given: "" },
    { file: "page.md", line: 14, language: "ts", code: "function f(id: string): Job;\n", mode: "fragment", given: "" },
  ]);
  expect(() => parseCodeBlocks("<!-- snippet: fragmant -->\n```go\n```\n", "page.md")).toThrow(/page\.md:1: unknown snippet marker/);
  expect(() => parseCodeBlocks("<!-- snippet: fragment -->\nSome text.\n```go\n```\n", "page.md")).toThrow(/page\.md:1: a snippet marker must stand right before a code block/);
  expect(() => parseCodeBlocks("<!-- snippet: compile -->\n```sh\n```\n", "page.md")).toThrow(/page\.md:1: a snippet marker applies to ts, go, python blocks, not to "sh"/);
  expect(() => parseCodeBlocks("<!-- snippet: given rust\nfn main() {}\n", "page.md")).toThrow(/page\.md:1: given code is for ts, go, python, not "rust"/);
  expect(() => parseCodeBlocks("<!-- snippet: given ts\nlet a = 1;\n", "page.md")).toThrow(/page\.md:1: given code is never closed/);
  expect(() => parseCodeBlocks("```ts\nlet a = 1;\n", "page.md")).toThrow(/page\.md:1: code block is never closed/);
});
