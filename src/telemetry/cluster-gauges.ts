import { Gauge, Registry } from "prom-client";
import type { Database } from "../store/database.js";
import { type GaugeRow, telemetryGauges } from "../store/telemetry.js";
import { WORKER_STALE_SECONDS } from "../store/workers.js";

/** The states of live jobs; finished ones are counted by baton_jobs_finished_total. */
const LIVE_STATES = ["scheduled", "available", "blocked", "leased"];

/**
 * The gauges that describe the shared database rather than this replica: every replica reports
 * the same values, so dashboards take max() (or any one replica) over them, never sum(). They
 * come from one statement (TelemetryGauges) that reads partial indexes of live jobs only.
 */
export class ClusterGauges {
  readonly registry = new Registry();
  private readonly jobs = new Gauge({
    name: "baton_jobs",
    help: "Live jobs stored, per queue and state (scheduled, available, blocked, leased); the same on every replica.",
    labelNames: ["queue", "state"],
    registers: [this.registry],
  });
  private readonly oldestAge = new Gauge({
    name: "baton_queue_oldest_job_age_seconds",
    help: "How long the oldest due AVAILABLE job of each queue has waited (the CLI's OLDEST WAIT); 0 when none waits. The same on every replica.",
    labelNames: ["queue"],
    registers: [this.registry],
  });
  private readonly workerStreams = new Gauge({
    name: "baton_worker_streams",
    help: "Open worker streams on all replicas, per queue they serve (a stream serving several queues counts in each); the same on every replica.",
    labelNames: ["queue"],
    registers: [this.registry],
  });
  private readonly spanOutboxRows = new Gauge({
    name: "baton_span_outbox_rows",
    help: "Committed spans waiting for export (the span outbox backlog); the same on every replica.",
    registers: [this.registry],
  });

  constructor(private readonly db: Database) {}

  /** Reads the database once and sets every gauge to what it says now. */
  async refresh(): Promise<void> {
    const rows = await telemetryGauges(this.db, WORKER_STALE_SECONDS);
    const ofKind = (kind: GaugeRow["kind"]) => rows.filter((row) => row.kind === kind);
    // Every queue with live jobs or settings, zeros included: the same on every replica.
    const queues = [...new Set(rows.filter((row) => row.kind === "jobs" || row.kind === "queue").map((row) => row.queue))].sort();
    const jobCounts = new Map(ofKind("jobs").map((row) => [`${row.queue}\n${row.state}`, row.value]));
    const oldest = new Map(ofKind("oldest_available").map((row) => [row.queue, row.value]));

    this.jobs.reset();
    this.oldestAge.reset();
    for (const queue of queues) {
      for (const state of LIVE_STATES) this.jobs.set({ queue, state }, jobCounts.get(`${queue}\n${state}`) ?? 0);
      this.oldestAge.set({ queue }, oldest.get(queue) ?? 0);
    }
    this.workerStreams.reset();
    for (const row of ofKind("worker_streams")) this.workerStreams.set({ queue: row.queue }, row.value);
    this.spanOutboxRows.set(ofKind("span_outbox_rows")[0]?.value ?? 0);
  }
}
