/**
 * The suite's figures: each test file records its scenarios and, when it ends, merges them
 * into test-results/faults-summary.json (gitignored) under its own name, so files running in
 * parallel (and single files run alone) keep each other's latest figures. docs/RELIABILITY.md
 * quotes the totals of the last full run.
 */
import { mkdirSync, readFileSync, renameSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BASE_SEED, SCALE, SEED_COUNT } from "./config.js";
import type { CheckReport } from "./history.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const dir = path.join(root, "test-results");
const file = path.join(dir, "faults-summary.json");

export interface ScenarioFigures {
  scenario: string;
  seed: number;
  enqueued: number;
  processed: number;
  lost: number;
  unexpected: number;
  recovered: number;
  duplicated: number;
  duplicatedUnexplained: number;
  dead: number;
  handlerRuns: number;
  acksConfirmed: number;
  falseConfirmations: number;
  acksRefused: number;
  settleErrors: number;
  deadlocks: number;
  faults: number;
  faultKinds: Record<string, number>;
  valid: boolean;
  durationMs: number;
  notes?: Record<string, unknown>;
}

interface Summary {
  updated: string;
  files: Record<string, { time: string; baseSeed: number; seeds: number; scale: number; scenarios: ScenarioFigures[] }>;
  totals: Record<string, number>;
}

const recorded: ScenarioFigures[] = [];

export function recordReport(report: CheckReport, durationMs: number, notes?: Record<string, unknown>): void {
  recorded.push({
    scenario: report.scenario,
    seed: report.seed,
    enqueued: report.enqueued,
    processed: report.processed,
    lost: report.lost,
    unexpected: report.unexpected,
    recovered: report.recovered,
    duplicated: report.duplicated,
    duplicatedUnexplained: report.duplicatedUnexplained,
    dead: report.dead,
    handlerRuns: report.starts,
    acksConfirmed: report.acksConfirmed,
    falseConfirmations: report.falseConfirmations,
    acksRefused: report.acksRefused,
    settleErrors: report.settleErrors,
    deadlocks: report.deadlocks,
    faults: report.faults,
    faultKinds: report.faultKinds,
    valid: report.valid,
    durationMs,
    ...(notes && { notes }),
  });
}

/** Scenarios judged without the history checker (a raw protocol test). */
export function recordFigures(figures: ScenarioFigures): void {
  recorded.push(figures);
}

/** Merges this file's scenarios into the summary; call from afterAll. */
export async function flushSummary(label: string): Promise<void> {
  if (recorded.length === 0) return;
  mkdirSync(dir, { recursive: true });
  const lock = `${file}.lock`;
  for (let tries = 0; ; tries++) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (tries > 100) break; // a stale lock from a killed run: write anyway
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    let summary: Summary = { updated: "", files: {}, totals: {} };
    try {
      summary = JSON.parse(readFileSync(file, "utf8")) as Summary;
    } catch {
      // first run
    }
    const now = new Date().toISOString();
    summary.files[label] = { time: now, baseSeed: BASE_SEED, seeds: SEED_COUNT, scale: SCALE, scenarios: [...recorded] };
    const all = Object.values(summary.files).flatMap((f) => f.scenarios);
    const sum = (pick: (s: ScenarioFigures) => number) => all.reduce((n, s) => n + pick(s), 0);
    summary.updated = now;
    summary.totals = {
      scenarios: all.length,
      valid: all.filter((s) => s.valid).length,
      jobsEnqueued: sum((s) => s.enqueued),
      jobsProcessed: sum((s) => s.processed),
      jobsDead: sum((s) => s.dead),
      handlerRuns: sum((s) => s.handlerRuns),
      faultsInjected: sum((s) => s.faults),
      lost: sum((s) => s.lost),
      unexpected: sum((s) => s.unexpected),
      recovered: sum((s) => s.recovered),
      duplicated: sum((s) => s.duplicated),
      duplicatedUnexplained: sum((s) => s.duplicatedUnexplained),
      acksConfirmed: sum((s) => s.acksConfirmed),
      staleAcksConfirmedByBatchingBug: sum((s) => s.falseConfirmations ?? 0),
      staleAcksRefused: sum((s) => s.acksRefused),
      settleErrors: sum((s) => s.settleErrors ?? 0),
      databaseDeadlocks: sum((s) => s.deadlocks ?? 0),
    };
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(summary, null, 2) + "\n");
    renameSync(tmp, file);
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      // already gone
    }
  }
}
