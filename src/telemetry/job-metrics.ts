import type { EndedAttempt, FailOutcome } from "../store/jobs.js";
import type { StoredJobState } from "../store/job-record.js";
import type { MetricFamily, Sample } from "./exposition.js";

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

class Histogram {
  /** Per bucket, not cumulative; the last is +Inf. */
  readonly counts = new Array<number>(BOUNDS.length + 1).fill(0);
  sum = 0;

  observe(seconds: number): void {
    const index = BOUNDS.findIndex((bound) => seconds <= bound);
    this.counts[index === -1 ? BOUNDS.length : index]!++;
    this.sum += seconds;
  }

  samples(queue: string): Sample[] {
    const samples: Sample[] = [];
    let cumulative = 0;
    this.counts.forEach((count, i) => {
      cumulative += count;
      samples.push({ suffix: "_bucket", labels: { queue, le: i < BOUNDS.length ? String(BOUNDS[i]) : "+Inf" }, value: cumulative });
    });
    samples.push({ suffix: "_sum", labels: { queue }, value: this.sum });
    samples.push({ suffix: "_count", labels: { queue }, value: cumulative });
    return samples;
  }
}

/** Values per queue, created on first use. */
class PerQueue<T> {
  readonly byQueue = new Map<string, T>();

  constructor(private readonly create: () => T) {}

  of(queue: string): T {
    let value = this.byQueue.get(queue);
    if (value === undefined) this.byQueue.set(queue, (value = this.create()));
    return value;
  }

  sorted(): [string, T][] {
    return [...this.byQueue].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }
}

const counter = () => ({ value: 0 });

export class JobMetrics {
  private readonly enqueuedTotal = new PerQueue(counter);
  private readonly finishedTotal = new PerQueue(() => ({ succeeded: 0, dead: 0, cancelled: 0 }));
  private readonly retriedTotal = new PerQueue(counter);
  private readonly leasesExpiredTotal = new PerQueue(counter);
  private readonly runDuration = new PerQueue(() => new Histogram());
  private readonly queueWait = new PerQueue(() => new Histogram());
  private spanOutboxDropped = 0;

  /** Jobs created (enqueues, continuations, cron); those handed to a stream at insert also started. */
  enqueued(jobs: readonly CreatedJob[]): void {
    for (const job of jobs) this.enqueuedTotal.of(job.queue).value++;
    this.claimed(jobs.filter((job) => job.state === "leased").map((job) => ({ queue: job.queue, queueWaitSeconds: queueWaitSeconds(job) })));
  }

  /** Attempts started: the queue wait, from when each job became due to the claim. */
  claimed(jobs: readonly { queue: string; queueWaitSeconds: number }[]): void {
    for (const job of jobs) this.queueWait.of(job.queue).observe(job.queueWaitSeconds);
  }

  /** Attempts that succeeded. */
  acked(attempts: readonly EndedAttempt[]): void {
    for (const attempt of attempts) {
      this.finishedTotal.of(attempt.queue).succeeded++;
      this.runDuration.of(attempt.queue).observe(attempt.runSeconds);
    }
  }

  /** Attempts that failed: retried, or finished dead or cancelled. */
  failed(outcomes: readonly FailOutcome[]): void {
    for (const outcome of outcomes) {
      if (outcome.state === "available") this.retriedTotal.of(outcome.queue).value++;
      else this.finishedTotal.of(outcome.queue)[outcome.state as Outcome]++;
      if (outcome.leaseRanOut) this.leasesExpiredTotal.of(outcome.queue).value++;
      this.runDuration.of(outcome.queue).observe(outcome.runSeconds);
    }
  }

  /** A job that CancelJob finished while it waited (a leased one finishes through failed()). */
  cancelled(job: { queue: string; state: StoredJobState }): void {
    if (job.state === "cancelled") this.finishedTotal.of(job.queue).cancelled++;
  }

  outboxSpansDropped(count: number): void {
    this.spanOutboxDropped += count;
  }

  families(): MetricFamily[] {
    const perQueue = (name: string, help: string, counts: PerQueue<{ value: number }>): MetricFamily => ({
      name,
      help,
      type: "counter",
      samples: counts.sorted().map(([queue, { value }]) => ({ labels: { queue }, value })),
    });
    const histogram = (name: string, help: string, histograms: PerQueue<Histogram>): MetricFamily => ({
      name,
      help,
      type: "histogram",
      samples: histograms.sorted().flatMap(([queue, h]) => h.samples(queue)),
    });
    return [
      perQueue("baton_jobs_enqueued_total", "Jobs created by this replica (enqueues, continuations, cron), per queue.", this.enqueuedTotal),
      {
        name: "baton_jobs_finished_total",
        help: "Jobs that reached an end state through this replica, per queue and outcome (succeeded, dead, cancelled).",
        type: "counter",
        // Every outcome of every queue seen, zeros included, so rates and ratios need no `or`.
        samples: this.finishedTotal.sorted().flatMap(([queue, counts]) => OUTCOMES.map((outcome) => ({ labels: { queue, outcome }, value: counts[outcome] }))),
      },
      perQueue("baton_jobs_retried_total", "Failed attempts that went back to the queue for another try, per queue.", this.retriedTotal),
      perQueue(
        "baton_leases_expired_total",
        "Attempts that failed after their lease expired (a lost worker or replica, or a timeout), per queue.",
        this.leasesExpiredTotal,
      ),
      histogram("baton_job_run_duration_seconds", "How long attempts ran, from claim to ack, nack or expiry, per queue.", this.runDuration),
      histogram(
        "baton_job_queue_wait_seconds",
        "How long due jobs waited for a worker, from their run time (or unblocking) to the claim, per queue.",
        this.queueWait,
      ),
      {
        name: "baton_span_outbox_dropped_total",
        help: "Spans this replica's relay dropped unexported because the outbox exceeded BATON_SPAN_OUTBOX_MAX_ROWS.",
        type: "counter",
        samples: [{ labels: {}, value: this.spanOutboxDropped }],
      },
    ];
  }
}
