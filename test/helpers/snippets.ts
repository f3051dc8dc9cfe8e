import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The fenced code blocks of the documentation, for the tests that keep them true: docs.test.ts
 * checks the `baton` command lines of shell blocks, snippets.test.ts compiles and runs the
 * TypeScript, Go and Python blocks.
 *
 * An HTML comment on the line before a block says what it is, when it is not a complete
 * program to run against a broker:
 *
 *   <!-- snippet: worker -->     a worker: started before the other programs of its language
 *                                run, then stopped with SIGTERM, on which it must exit cleanly
 *   <!-- snippet: compile -->    compiled (type-checked) but not run: a program that needs what
 *                                the test broker lacks, or a few lines that use names given
 *   <!-- snippet: fragment -->   neither: a signature, or a listing with elided parts
 *
 * What `compile` blocks take as given (imports, declarations) is stated in a comment that
 * renderers do not show; it goes in front of every `compile` block of its language below it,
 * up to the next given of that language:
 *
 *   <!-- snippet: given ts
 *   import { createClient } from "@baton/client";
 *   declare const payload: unknown;
 *   -->
 */
const root = fileURLToPath(new URL("../../", import.meta.url));

export type SnippetMode = "run" | "worker" | "compile" | "fragment";

export interface CodeBlock {
  /** The document, relative to the repo root. */
  file: string;
  /** Line of the opening fence, 1-based. */
  line: number;
  /** The fence's language, normalised: ts, go, python, sh or as written. */
  language: string;
  /** The block's text, without the fences and the fence's indentation. */
  code: string;
  mode: SnippetMode;
  /** For a `compile` block, the given code of its language above it ("" if none). */
  given: string;
}

/** The documents whose code blocks are checked. */
export const documents = [
  "README.md",
  "deploy/README.md",
  "bench/README.md",
  ...readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
  ...["ts", "go", "python"].map((client) => `clients/${client}/README.md`),
];

/** The languages whose blocks are compiled and run, the only ones a marker may stand before. */
export const programLanguages = ["ts", "go", "python"];

const aliases: Record<string, string> = { typescript: "ts", golang: "go", py: "python", bash: "sh", console: "sh", shell: "sh" };

export function readCodeBlocks(file: string): CodeBlock[] {
  return parseCodeBlocks(readFileSync(path.join(root, file), "utf8"), file);
}

/** The code blocks of a Markdown text; throws on a marker it does not know or that stands apart. */
export function parseCodeBlocks(text: string, file: string): CodeBlock[] {
  const lines = text.split("\n");
  const blocks: CodeBlock[] = [];
  const given = new Map<string, string>();
  let marker: { mode: SnippetMode; line: number } | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const where = `${file}:${i + 1}`;
    const fence = /^(\s*)(```+)\s*([\w+-]*)/.exec(line);
    if (fence) {
      const [, indent, ticks, written] = fence;
      const end = lines.findIndex((candidate, j) => j > i && candidate.trim().startsWith(ticks!) && candidate.trim().replace(/`/g, "") === "");
      if (end === -1) throw new Error(`${where}: code block is never closed`);
      const language = aliases[written!] ?? written!;
      if (marker && !programLanguages.includes(language)) {
        throw new Error(`${file}:${marker.line}: a snippet marker applies to ${programLanguages.join(", ")} blocks, not to "${language || "plain"}"`);
      }
      const code = lines.slice(i + 1, end).map((text) => (text.startsWith(indent!) ? text.slice(indent!.length) : text.trimStart()));
      const mode = marker?.mode ?? "run";
      blocks.push({ file, line: i + 1, language, code: code.join("\n") + "\n", mode, given: mode === "compile" ? (given.get(language) ?? "") : "" });
      marker = undefined;
      i = end;
      continue;
    }
    if (line.trim() === "") continue;
    if (marker) throw new Error(`${file}:${marker.line}: a snippet marker must stand right before a code block`);
    if (!/^\s*<!--\s*snippet\b/.test(line)) continue;
    const givenHead = /^\s*<!--\s*snippet:\s*given\s+(\S+)\s*$/.exec(line);
    if (givenHead) {
      const language = aliases[givenHead[1]!] ?? givenHead[1]!;
      if (!programLanguages.includes(language)) throw new Error(`${where}: given code is for ${programLanguages.join(", ")}, not "${language}"`);
      const end = lines.findIndex((candidate, j) => j > i && candidate.trim() === "-->");
      if (end === -1) throw new Error(`${where}: given code is never closed by a line "-->"`);
      given.set(language, lines.slice(i + 1, end).join("\n") + "\n");
      i = end;
      continue;
    }
    const mode = /^\s*<!--\s*snippet:\s*(worker|compile|fragment)\s*-->\s*$/.exec(line)?.[1] as SnippetMode | undefined;
    if (!mode) throw new Error(`${where}: unknown snippet marker ${line.trim()} (known: worker, compile, fragment and given <language>)`);
    marker = { mode, line: i + 1 };
  }
  if (marker) throw new Error(`${file}:${marker.line}: a snippet marker must stand right before a code block`);
  return blocks;
}
