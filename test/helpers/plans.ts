import { readStatements, toQuery } from "../../src/store/statements.js";
import type pg from "pg";

/** A node of a plan as EXPLAIN (FORMAT JSON) prints it. */
export interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Filter?: string;
  /** Of an INSERT … ON CONFLICT: the unique indexes that detect the conflicts. */
  "Conflict Arbiter Indexes"?: string[];
  Plans?: PlanNode[];
}

/**
 * Every scan of baton.jobs in the plan, as "<node type> <index>"; a sequential scan is marked
 * "(dedup_key)" when it is the one that looks for a key.
 */
export function jobScans(node: PlanNode): string[] {
  const byKey = node.Filter?.includes("dedup_key") ? " (dedup_key)" : "";
  // A bitmap index scan names its index but not its table.
  const ofJobs = node["Relation Name"] === "jobs" || node["Index Name"]?.startsWith("jobs_");
  const own = ofJobs ? [`${node["Node Type"]} ${node["Index Name"] ?? ""}`.trim() + byKey] : [];
  return [...own, ...(node.Plans ?? []).flatMap(jobScans)];
}

/** Every scan of the table `relation` in the plan, as "<node type> <index>" (its indexes are named `<relation>_…`). */
export function relationScans(relation: string): (node: PlanNode) => string[] {
  const scans = (node: PlanNode): string[] => {
    const own = node["Relation Name"] === relation || node["Index Name"]?.startsWith(`${relation}_`) ? [`${node["Node Type"]} ${node["Index Name"] ?? ""}`.trim()] : [];
    return [...own, ...(node.Plans ?? []).flatMap(scans)];
  };
  return scans;
}

/** A parameter value as an SQL literal in PostgreSQL's text form, typed by the statement. */
function literal(client: pg.Client, value: unknown): string {
  return value === null || value === undefined ? "NULL" : client.escapeLiteral(textForm(value));
}

function textForm(value: unknown): string {
  if (Buffer.isBuffer(value)) return `\\x${value.toString("hex")}`;
  if (Array.isArray(value)) {
    const element = (item: unknown) => (item === null || item === undefined ? "NULL" : `"${textForm(item).replace(/[\\"]/g, "\\$&")}"`);
    return `{${value.map(element).join(",")}}`;
  }
  return String(value);
}

/** The scans of the plan with the parameters' values known (of baton.jobs unless `scans` says otherwise). */
export async function customScans(client: pg.Client, text: string, values: unknown[], scans = jobScans): Promise<string[]> {
  const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`explain (format json) ${text}`, values);
  return scans(rows[0]!["QUERY PLAN"][0].Plan);
}

/**
 * The scans of the generic plan, the one production runs: a prepared statement under
 * plan_cache_mode = force_generic_plan (EXPLAIN (GENERIC_PLAN) would do, but only from
 * PostgreSQL 16, and CI also runs PostgreSQL 15).
 */
export async function genericScans(client: pg.Client, text: string, values: unknown[], scans = jobScans): Promise<string[]> {
  await client.query("set plan_cache_mode = force_generic_plan");
  await client.query(`prepare plan_check as ${text}`);
  try {
    return await executeScans(client, "plan_check", values, scans);
  } finally {
    await client.query("deallocate plan_check");
    await client.query("reset plan_cache_mode");
  }
}

/** The scans of the plan that the prepared statement `name` has now (built on first use). */
export async function executeScans(client: pg.Client, name: string, values: unknown[], scans = jobScans): Promise<string[]> {
  // EXECUTE takes no bind parameters: the values travel as literals, typed by the statement.
  const args = values.length > 0 ? `(${values.map((value) => literal(client, value)).join(", ")})` : "";
  const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(`explain (format json) execute ${name}${args}`);
  return scans(rows[0]!["QUERY PLAN"][0].Plan);
}

/**
 * The plans of the statements that `run` executes, nested ones included (a function's body is
 * not part of its caller's EXPLAIN): auto_explain reports each to this client as a notice.
 */
export async function executedPlans(client: pg.Client, run: () => Promise<unknown>): Promise<{ text: string; scans: string[] }[]> {
  const plans: { text: string; scans: string[] }[] = [];
  const collect = (notice: { message?: string }) => {
    const report = notice.message?.match(/plan:\s*(\{[\s\S]*\})\s*$/);
    if (!report) return;
    const plan = JSON.parse(report[1]!) as { "Query Text": string; Plan: PlanNode };
    plans.push({ text: plan["Query Text"], scans: jobScans(plan.Plan) });
  };
  await client.query("load 'auto_explain'");
  await client.query(
    "set auto_explain.log_min_duration = 0; set auto_explain.log_nested_statements = on; set auto_explain.log_format = json; set auto_explain.log_level = notice",
  );
  client.on("notice", collect);
  try {
    await run();
  } finally {
    client.off("notice", collect);
    await client.query("reset auto_explain.log_min_duration");
  }
  return plans;
}

/** A statement of one of store/sql/*.sql as the store sends it; parameters not given are null. */
function statementQueries(file: string) {
  const statements = readStatements(new URL(`../../src/store/sql/${file}`, import.meta.url));
  return (name: string, params: Record<string, unknown>): { name: string; text: string; values: unknown[] } => {
    const statement = statements[name];
    if (!statement) throw new Error(`${file} has no statement ${name}`);
    for (const key of Object.keys(params)) {
      if (!statement.parameters.includes(key)) throw new Error(`${name} has no parameter @${key}`);
    }
    return toQuery(statement, Object.fromEntries(statement.parameters.map((key) => [key, params[key] ?? null])));
  };
}

export const jobsQuery = statementQueries("jobs.sql");
export const schedulesQuery = statementQueries("schedules.sql");
export const historyQuery = statementQueries("queue_history.sql");
