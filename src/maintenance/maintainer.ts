import { Counter, Gauge, Registry } from "prom-client";
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

interface Entry {
  task: MaintenanceTask;
  periodic?: Periodic;
}

/**
 * The one owner of a replica's background loops (River's QueueMaintainer is the model): the
 * broker, the scheduler and authentication hand their tasks here, and this starts them, stops
 * them all at shutdown (waiting for passes under way), and reports how each fares. Passes of a
 * task never overlap; intervals are jittered by ±20%, so replicas started together spread out.
 */
export class Maintainer {
  /** This replica's tasks for /metrics: passes, failed passes, and when each last succeeded. */
  readonly registry = new Registry();
  private readonly runsTotal = new Counter({
    name: "baton_maintenance_runs_total",
    help: "Passes of each background task of this replica.",
    labelNames: ["task"],
    registers: [this.registry],
  });
  private readonly failuresTotal = new Counter({
    name: "baton_maintenance_failures_total",
    help: "Passes of each background task of this replica that failed (logged; the task runs again at its next interval).",
    labelNames: ["task"],
    registers: [this.registry],
  });
  private readonly lastSuccess = new Gauge({
    name: "baton_maintenance_last_success_timestamp_seconds",
    help: "When each background task of this replica last finished a pass (Unix time); absent until the first.",
    labelNames: ["task"],
    registers: [this.registry],
  });
  private readonly entries = new Map<string, Entry>();
  private started = false;

  constructor(private readonly log: Logger) {}

  /** Adds tasks; they start at once if the maintainer runs. Names are unique. */
  add(...tasks: MaintenanceTask[]): void {
    for (const task of tasks) {
      if (this.entries.has(task.name)) throw new Error(`maintenance task "${task.name}" is added twice`);
      const entry: Entry = { task };
      this.entries.set(task.name, entry);
      // Zero from the start, so increase() sees the first failure.
      this.runsTotal.inc({ task: task.name }, 0);
      this.failuresTotal.inc({ task: task.name }, 0);
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

  private run(entry: Entry): void {
    const { task } = entry;
    entry.periodic = startPeriodic(task.name, task.intervalMs, 0.2, this.log, async () => {
      this.runsTotal.inc({ task: task.name });
      try {
        await task.run();
        this.lastSuccess.set({ task: task.name }, Date.now() / 1000);
      } catch (error) {
        this.failuresTotal.inc({ task: task.name });
        throw error;
      }
    });
  }
}
