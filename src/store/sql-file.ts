import { readFileSync } from "node:fs";

/**
 * Reads the named queries of a `.sql` file: each starts at a line `-- name: <Name>` and runs
 * to the next such line. Names become prepared-statement names, so each is parsed once per
 * connection.
 */
export function loadQueries<Name extends string>(file: URL): Record<Name, string> {
  const queries: Record<string, string> = {};
  const blocks = readFileSync(file, "utf8").split(/^-- name: /m).slice(1);
  for (const block of blocks) {
    const newline = block.indexOf("\n");
    queries[block.slice(0, newline).trim()] = block.slice(newline + 1).trim();
  }
  return queries as Record<Name, string>;
}
