import type { MetricFamily } from "../telemetry/exposition.js";
import type { Logger } from "../util/log.js";
import { type Periodic, startPeriodic } from "../util/periodic.js";

/** One periodic piece of background work of a replica. */
export interface MaintenanceTask {
  /** For logs and metrics: "reaper", "retention", … */
  name: string;
  intervalMs: number;
  /** One pass; a failure is logged and counted, and the next pass comes at the next interval. */
  run(): Promise<void>;
}

/** What one task has done since the replica started (for /metrics). */
export interface TaskReport {
  name: string;
  runs: number;
  failures: number;
  /** When the last pass that succeeded ended. */
  lastSuccessTime: Date | undefined;
}

interface Entry {
  task: MaintenanceTask;
  report: TaskReport;
  periodic?: Periodic;
}

/**
 * The one owner of a replica's background loops (River's QueueMaintainer is the model): the
 * broker, the scheduler and authentication hand their tasks here, and this starts them, stops
 * them all at shutdown (waiting for passes under way), and reports how each fares. Passes of a
 * task never overlap; intervals are jittered by ±20%, so replicas started together spread out.
 */
export class Maintainer {
  private readonly entries = new Map<string, Entry>();
  private started = false;

  constructor(private readonly log: Logger) {}

  /** Adds tasks; they start at once if the maintainer runs. Names are unique. */
  add(...tasks: MaintenanceTask[]): void {
    for (const task of tasks) {
      if (this.entries.has(task.name)) throw new Error(`maintenance task "${task.name}" is added twice`);
      const entry: Entry = { task, report: { name: task.name, runs: 0, failures: 0, lastSuccessTime: undefined } };
      this.entries.set(task.name, entry);
      if (this.started) this.run(entry);
    }
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    for (const entry of this.entries.values()) this.run(entry);
  }

  /** Stops every task, after the passes under way. */
  async stop(): Promise<void> {
    this.started = false;
    await Promise.all([...this.entries.values()].flatMap((entry) => (entry.periodic ? [entry.periodic.stop()] : [])));
  }

  reports(): TaskReport[] {
    return [...this.entries.values()].map((entry) => ({ ...entry.report }));
  }

  /** This replica's tasks for /metrics: passes, failed passes, and when each last succeeded. */
  families(): MetricFamily[] {
    const reports = this.reports();
    const per = (value: (report: TaskReport) => number) => reports.map((report) => ({ labels: { task: report.name }, value: value(report) }));
    return [
      { name: "baton_maintenance_runs_total", help: "Passes of each background task of this replica.", type: "counter", samples: per((r) => r.runs) },
      {
        name: "baton_maintenance_failures_total",
        help: "Passes of each background task of this replica that failed (logged; the task runs again at its next interval).",
        type: "counter",
        samples: per((r) => r.failures),
      },
      {
        name: "baton_maintenance_last_success_timestamp_seconds",
        help: "When each background task of this replica last finished a pass (Unix time); absent until the first.",
        type: "gauge",
        samples: reports
          .filter((report) => report.lastSuccessTime !== undefined)
          .map((report) => ({ labels: { task: report.name }, value: report.lastSuccessTime!.getTime() / 1000 })),
      },
    ];
  }

  private run(entry: Entry): void {
    const { task, report } = entry;
    entry.periodic = startPeriodic(task.name, task.intervalMs, 0.2, this.log, async () => {
      report.runs += 1;
      try {
        await task.run();
        report.lastSuccessTime = new Date();
      } catch (error) {
        report.failures += 1;
        throw error;
      }
    });
  }
}
