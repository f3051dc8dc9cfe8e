import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { expect, test } from "vitest";
import { loadStatements, param, readStatements, row, toQuery, statement } from "../src/store/statements.js";

function sqlFile(text: string): URL {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "baton-sql-")), "statements.sql");
  writeFileSync(file, text);
  return pathToFileURL(file);
}

test("named parameters become positional ones in order of first use, each name once", () => {
  const sql = loadStatements(sqlFile("-- name: A\nselect * from t where a = @first and b = any(@second::int[]) or a = @first;\n"), {
    A: statement({ second: param<number[]>(), first: param<string>() }, row<{ a: string }>()),
  });
  expect(sql.A.text).toBe("select * from t where a = $1 and b = any($2::int[]) or a = $1;");
  expect(toQuery(sql.A, { second: [1, 2], first: "x" })).toEqual({ name: "A", text: sql.A.text, values: ["x", [1, 2]] });
});

test("string literals, quoted identifiers, comments and casts are not parameters", () => {
  const sql = loadStatements(sqlFile(`-- name: A\n-- @ignored in a comment\nselect '@literal', "@column", @value::text as "it's";\n`), {
    A: statement({ value: param<string>() }),
  });
  expect(sql.A.text).toBe(`-- @ignored in a comment\nselect '@literal', "@column", $1::text as "it's";`);
  expect(sql.A.parameters).toEqual(["value"]);
});

test("a fragment is no statement of its own, and stands in each statement that names it", () => {
  const sql = loadStatements(
    sqlFile("-- fragment: Columns\n-- why\nid, name\n\n-- name: A\nselect {{Columns}} from t where id = @id;\n\n-- name: B\nupdate t set x = 1 returning {{Columns}};\n"),
    { A: statement({ id: param<string>() }), B: statement({}) },
  );
  expect(Object.keys(sql).sort()).toEqual(["A", "B"]);
  expect(sql.A.text).toBe("select -- why\nid, name from t where id = $1;");
  expect(sql.B.text).toBe("update t set x = 1 returning -- why\nid, name;");
});

test("every mismatch between a file and the code that loads it fails when the file is loaded, naming what", () => {
  const load = (text: string, spec: Parameters<typeof loadStatements>[1]) => () => loadStatements(sqlFile(text), spec);
  expect(load("-- name: A\nselect @a, @typo;\n", { A: statement({ a: param<string>() }) })).toThrow(/statement A uses @typo, which the code does not declare/);
  expect(load("-- name: A\nselect @a;\n", { A: statement({ a: param<string>(), b: param<string>() }) })).toThrow(
    /statement A does not use the declared parameter @b$/,
  );
  expect(load("-- name: A\nselect $1;\n", { A: statement({}) })).toThrow(/statement A uses the positional parameter \$1; name it/);
  expect(load("-- name: A\nselect 1;\n-- name: B\nselect 2;\n", { A: statement({}) })).toThrow(/statement B is not declared by the code/);
  expect(load("-- name: A\nselect 1;\n", { A: statement({}), C: statement({}) })).toThrow(/the code declares statement C, which the file does not have/);
  expect(load("-- name: A\nselect {{Missing}} from t;\n", { A: statement({}) })).toThrow(/statement A names the unknown fragment Missing/);
});

test("every statement file of the store loads against the code's declarations", async () => {
  // Each module loads its file at import: a mismatch would throw here, as at the broker's start.
  await Promise.all([
    import("../src/store/jobs.js"),
    import("../src/store/queues.js"),
    import("../src/store/schedules.js"),
    import("../src/store/tokens.js"),
    import("../src/store/workers.js"),
    import("../src/store/telemetry.js"),
    import("../src/store/access.js"),
    import("../src/store/notifier.js"),
  ]);
  const statements = readStatements(new URL("../src/store/sql/jobs.sql", import.meta.url));
  expect(statements.JobGet?.parameters).toEqual(["now", "id"]);
});
