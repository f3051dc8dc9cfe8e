import type { EndedAttempt, FailOutcome } from "../store/jobs.js";
import type { StoredJobState } from "../store/job-record.js";
import { Counter, Histogram, Registry } from "prom-client";
import { HistoryCounter } from "./history-counter.js";

/**
 * The counters and histograms of one replica, kept in memory from the rows its own statements
 * return once they committed: a sum() over replicas is the cluster's total (the Prometheus
 * convention), and counting costs the database nothing. A replica that restarts starts from
 * zero, which rate() and increase() expect of a counter.
 *
 * What no replica's statement returns is not counted: jobs created by baton.enqueue() from SQL,
 * and dependants that the database itself unblocks or cancels when a blocker ends (a
 * dependant's queue wait is still observed when it is claimed).
 */

/** Upper bounds (seconds) of the duration histograms' buckets; +Inf follows. */
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

const OUTCOMES = ["succeeded", "dead", "cancelled"] as const;
type Outcome = (typeof OUTCOMES)[number];

/** A created job: when it became due, and when its attempt started if it was handed off. */
export interface CreatedJob {
  queue: string;
  state: StoredJobState;
  runTime: Date;
  attemptStartTime: Date | null;
}

/** How long a job leased at insert waited: the little between its run time and the insert. */
export function queueWaitSeconds(job: CreatedJob): number {
  return job.attemptStartTime === null ? 0 : Math.max(0, (job.attemptStartTime.getTime() - job.runTime.getTime()) / 1000);
}

export class JobMetrics {
  /** Registered on a registry of their own, which /metrics merges with the others. */
  readonly registry = new Registry();
  private readonly enqueuedTotal = new Counter({
    name: "baton_jobs_enqueued_total",
    help: "Jobs created by this replica (enqueues, continuations, cron), per queue.",
    labelNames: ["queue"],
    registers: [this.registry],
  });
  private readonly finishedTotal = new Counter({
    name: "baton_jobs_finished_total",
    help: "Jobs that reached an end state through this replica, per queue and outcome (succeeded, dead, cancelled).",
    labelNames: ["queue", "outcome"],
    registers: [this.registry],
  });
  private readonly retriedTotal = new Counter({
    name: "baton_jobs_retried_total",
    help: "Failed attempts that went back to the queue for another try, per queue.",
    labelNames: ["queue"],
    registers: [this.registry],
  });
  private readonly leasesExpiredTotal = new Counter({
    name: "baton_leases_expired_total",
    help: "Attempts that failed after their lease expired (a lost worker or replica, or a timeout), per queue.",
    labelNames: ["queue"],
    registers: [this.registry],
  });
  private readonly runDuration = new Histogram({
    name: "baton_job_run_duration_seconds",
    help: "How long attempts ran, from claim to ack, nack or expiry, per queue.",
    labelNames: ["queue"],
    buckets: BOUNDS,
    registers: [this.registry],
  });
  private readonly queueWait = new Histogram({
    name: "baton_job_queue_wait_seconds",
    help: "How long due jobs waited for a worker, from their run time (or unblocking) to the claim, per queue.",
    labelNames: ["queue"],
    buckets: BOUNDS,
    registers: [this.registry],
  });
  private readonly spanOutboxDropped = new Counter({
    name: "baton_span_outbox_dropped_total",
    help: "Spans this replica's relay dropped unexported because the outbox exceeded BATON_SPAN_OUTBOX_MAX_ROWS.",
    registers: [this.registry],
  });
  /** This replica's counts for baton.queue_history, flushed by the broker. */
  readonly history = new HistoryCounter();
  /** Queues whose finished counter has every outcome, zeros included, so rates and ratios need no `or`. */
  private readonly finishedQueues = new Set<string>();

  /** Jobs created (enqueues, continuations, cron); those handed to a stream at insert also started. */
  enqueued(jobs: readonly CreatedJob[]): void {
    for (const job of jobs) {
      this.enqueuedTotal.inc({ queue: job.queue });
      this.history.add(job.queue, "enqueued");
    }
    this.claimed(jobs.filter((job) => job.state === "leased").map((job) => ({ queue: job.queue, queueWaitSeconds: queueWaitSeconds(job) })));
  }

  /** Attempts started: the queue wait, from when each job became due to the claim. */
  claimed(jobs: readonly { queue: string; queueWaitSeconds: number }[]): void {
    for (const job of jobs) this.queueWait.observe({ queue: job.queue }, job.queueWaitSeconds);
  }

  /** Attempts that succeeded. */
  acked(attempts: readonly EndedAttempt[]): void {
    for (const attempt of attempts) {
      this.finish(attempt.queue, "succeeded");
      this.runDuration.observe({ queue: attempt.queue }, attempt.runSeconds);
    }
  }

  /** Attempts that failed: retried, or finished dead or cancelled. */
  failed(outcomes: readonly FailOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.state === "available") {
        this.retriedTotal.inc({ queue: outcome.queue });
        this.history.add(outcome.queue, "retried");
      } else this.finish(outcome.queue, outcome.state as Outcome);
      if (outcome.leaseRanOut) this.leasesExpiredTotal.inc({ queue: outcome.queue });
      this.runDuration.observe({ queue: outcome.queue }, outcome.runSeconds);
    }
  }

  /** A job that CancelJob finished while it waited (a leased one finishes through failed()). */
  cancelled(job: { queue: string; state: StoredJobState }): void {
    if (job.state === "cancelled") this.finish(job.queue, "cancelled");
  }

  outboxSpansDropped(count: number): void {
    this.spanOutboxDropped.inc(count);
  }

  private finish(queue: string, outcome: Outcome): void {
    if (!this.finishedQueues.has(queue)) {
      this.finishedQueues.add(queue);
      for (const each of OUTCOMES) this.finishedTotal.inc({ queue, outcome: each }, 0);
    }
    this.finishedTotal.inc({ queue, outcome });
    this.history.add(queue, outcome);
  }
}
