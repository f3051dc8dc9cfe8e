import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect, test } from "vitest";
import { loadQueries } from "../src/store/sql-file.js";

function sqlFile(text: string): URL {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "baton-sql-")), "queries.sql");
  writeFileSync(file, text);
  return pathToFileURL(file);
}

test("a fragment is no query of its own, and stands in each query that names it", () => {
  const queries = loadQueries<"A" | "B">(
    sqlFile("-- fragment: Columns\n-- why\nid, name\n\n-- name: A\nselect {{Columns}} from t;\n\n-- name: B\nupdate t set x = 1 returning {{Columns}};\n"),
  );
  expect(Object.keys(queries).sort()).toEqual(["A", "B"]);
  expect(queries.A).toBe("select -- why\nid, name from t;");
  expect(queries.B).toBe("update t set x = 1 returning -- why\nid, name;");
});

test("a query that names an unknown fragment fails when the file is loaded", () => {
  expect(() => loadQueries(sqlFile("-- name: A\nselect {{Missing}} from t;\n"))).toThrow(/query A names the unknown fragment Missing/);
});
