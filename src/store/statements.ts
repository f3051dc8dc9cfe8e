import { readFileSync } from "node:fs";
import type pg from "pg";
import type { NamedQuery, Queryable } from "./database.js";

/** The time a statement takes as "now"; null means database time (production). */
export type Now = Date | null;

/** A parameter's TypeScript type. Only the type is real: at run time a parameter is its name. */
export interface Param<T> {
  readonly __type?: T;
}

export const param = <T>(): Param<T> => ({});

/** A statement's row type, given with {@link row}; nothing at run time. */
export interface RowType<Row> {
  readonly __row?: Row;
}

export const row = <Row extends pg.QueryResultRow>(): RowType<Row> => ({});

/** `maxAttempts` as PostgreSQL's column is named: `max_attempts`. */
export type SnakeCase<Name extends string> = Name extends `${infer Head}${infer Tail}`
  ? `${Head extends Lowercase<Head> ? Head : `_${Lowercase<Head>}`}${SnakeCase<Tail>}`
  : Name;

/** The row, with snake_case columns, that a statement returns for a camelCase record. */
export type RowOf<Record> = { [Key in keyof Record as SnakeCase<Key & string>]: Record[Key] };

/** What the code declares of a statement: its parameters by name, and the row it returns. */
export interface StatementSpec<Params, Row> {
  params: { [K in keyof Params]: Param<Params[K]> };
  row: RowType<Row>;
}

export function statement<Params extends Record<string, unknown> = Record<never, never>, Row extends pg.QueryResultRow = never>(
  params: { [K in keyof Params]: Param<Params[K]> },
  rowType: RowType<Row> = {},
): StatementSpec<Params, Row> {
  return { params, row: rowType };
}

interface AnyStatementSpec {
  params: Record<string, Param<unknown>>;
  row: RowType<unknown>;
}

/**
 * A statement of a `.sql` file, ready to run: `text` has `$1, $2, …` where the file says
 * `@name`, and `parameters` the names in that order.
 */
export interface Statement<Params, Row> {
  readonly name: string;
  readonly text: string;
  readonly parameters: readonly (keyof Params & string)[];
  readonly __row?: Row;
}

type Statements<Spec> = { [Name in keyof Spec]: Spec[Name] extends StatementSpec<infer Params, infer Row> ? Statement<Params, Row> : never };

/**
 * Reads the statements of a `.sql` file and checks them against what the code declares. Each
 * statement starts at a line `-- name: <Name>` and runs to the next such line; its name
 * becomes its prepared-statement name, so it is parsed once per connection. Parameters are
 * written `@name`. A block that starts at `-- fragment: <Name>` is text that statements of the
 * same file share: `{{Name}}` stands for it.
 *
 * Everything that can go wrong between the file and the code fails here, when the module
 * loads, rather than as an `undefined` parameter at run time: a statement of the file the code
 * does not declare or the other way round, a parameter used but not declared or declared but
 * not used, a positional `$1`, an unknown fragment.
 */
export function loadStatements<const Spec extends Record<string, AnyStatementSpec>>(file: URL, spec: Spec): Statements<Spec> {
  const texts = readBlocks(file);
  const where = file.pathname;
  const declared = new Set(Object.keys(spec));
  for (const name of Object.keys(texts)) {
    if (!declared.has(name)) throw new Error(`${where}: statement ${name} is not declared by the code that loads the file`);
  }
  const statements: Record<string, Statement<Record<string, unknown>, unknown>> = {};
  for (const [name, { params }] of Object.entries(spec)) {
    const text = texts[name];
    if (text === undefined) throw new Error(`${where}: the code declares statement ${name}, which the file does not have`);
    statements[name] = bindNames(`${where}: statement ${name}`, name, text, Object.keys(params));
  }
  return statements as unknown as Statements<Spec>;
}

/**
 * Every statement of a `.sql` file, its parameters as the file names them, unchecked: for
 * tests that look at plans. The code loads files with {@link loadStatements}.
 */
export function readStatements(file: URL): Record<string, Statement<Record<string, unknown>, unknown>> {
  return Object.fromEntries(Object.entries(readBlocks(file)).map(([name, text]) => [name, bindNames(`${file.pathname}: statement ${name}`, name, text)]));
}

/** The statement as a query of node-postgres, its parameters in place. */
export function toQuery<Params>(statement: Statement<Params, unknown>, params: Params): Required<NamedQuery> {
  return { name: statement.name, text: statement.text, values: statement.parameters.map((name) => params[name]) };
}

/** Runs the statement with its parameters by name. */
export function run<Params, Row extends pg.QueryResultRow>(db: Queryable, statement: Statement<Params, Row>, params: Params): Promise<pg.QueryResult<Row>> {
  return db.query<Row>(toQuery(statement, params));
}

/**
 * Runs the statement unprepared, so it is planned for its parameters' values each time: for a
 * statement whose best plan depends on which of its optional parameters are set (a search by
 * filter), where one plan prepared for every call could not use the index the call needs.
 */
export function runPlannedEachTime<Params, Row extends pg.QueryResultRow>(
  db: Queryable,
  statement: Statement<Params, Row>,
  params: Params,
): Promise<pg.QueryResult<Row>> {
  const { text, values } = toQuery(statement, params);
  return db.query<Row>({ text, values });
}

/** String literals, quoted identifiers and comments are left alone; `@name` and `$1` outside them are parameters. */
const TOKENS = /'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|@([A-Za-z_]\w*)|\$(\d+)/g;

/** `declared` undefined takes every name the text uses. */
function bindNames(where: string, name: string, text: string, declared?: string[]): Statement<Record<string, unknown>, unknown> {
  const order: string[] = [];
  const positionalText = text.replace(TOKENS, (token, named: string | undefined, positional: string | undefined) => {
    if (positional !== undefined) throw new Error(`${where} uses the positional parameter $${positional}; name it (@name)`);
    if (named === undefined) return token;
    if (declared && !declared.includes(named)) throw new Error(`${where} uses @${named}, which the code does not declare`);
    if (!order.includes(named)) order.push(named);
    return `$${order.indexOf(named) + 1}`;
  });
  const unused = (declared ?? order).filter((param) => !order.includes(param));
  if (unused.length > 0) throw new Error(`${where} does not use the declared parameter${unused.length > 1 ? "s" : ""} ${unused.map((p) => `@${p}`).join(", ")}`);
  return { name, text: positionalText, parameters: order };
}

/** The file's statements by name, with the fragments they name put in. */
function readBlocks(file: URL): Record<string, string> {
  const statements: Record<string, string> = {};
  const fragments: Record<string, string> = {};
  // split() with a captured group keeps each block's kind before its text.
  const parts = readFileSync(file, "utf8").split(/^-- (name|fragment): /m).slice(1);
  for (let i = 0; i < parts.length; i += 2) {
    const block = parts[i + 1]!;
    const newline = block.indexOf("\n");
    const target = parts[i] === "name" ? statements : fragments;
    target[block.slice(0, newline).trim()] = block.slice(newline + 1).trim();
  }
  for (const [name, text] of Object.entries(statements)) {
    statements[name] = text.replace(/\{\{(\w+)\}\}/g, (_, fragment: string) => {
      const shared = fragments[fragment];
      if (shared === undefined) throw new Error(`${file.pathname}: statement ${name} names the unknown fragment ${fragment}`);
      return shared;
    });
  }
  return statements;
}
