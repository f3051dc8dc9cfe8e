import { readFileSync } from "node:fs";

/**
 * Reads the named queries of a `.sql` file: each starts at a line `-- name: <Name>` and runs
 * to the next such line. Names become prepared-statement names, so each is parsed once per
 * connection. A block that starts at `-- fragment: <Name>` is no query but text that queries
 * of the same file share: `{{Name}}` in a query stands for it.
 */
export function loadQueries<Name extends string>(file: URL): Record<Name, string> {
  const queries: Record<string, string> = {};
  const fragments: Record<string, string> = {};
  // split() with a captured group keeps each block's kind before its text.
  const parts = readFileSync(file, "utf8").split(/^-- (name|fragment): /m).slice(1);
  for (let i = 0; i < parts.length; i += 2) {
    const block = parts[i + 1]!;
    const newline = block.indexOf("\n");
    const target = parts[i] === "name" ? queries : fragments;
    target[block.slice(0, newline).trim()] = block.slice(newline + 1).trim();
  }
  for (const [name, text] of Object.entries(queries)) {
    queries[name] = text.replace(/\{\{(\w+)\}\}/g, (_, fragment: string) => {
      const shared = fragments[fragment];
      if (shared === undefined) throw new Error(`${file.pathname}: query ${name} names the unknown fragment ${fragment}`);
      return shared;
    });
  }
  return queries;
}
