import type { Database } from "../store/database.js";
import type { JobRecord } from "../store/job-record.js";
import { jobGet, jobGetFinished } from "../store/jobs.js";
import type { Logger } from "../telemetry/log.js";

const TERMINAL = new Set(["succeeded", "dead", "cancelled"]);

/**
 * WaitJob for many waiters at once. Waiters register by job id; every baton_finished
 * notification (and the fallback poll) triggers one query for all of them, coalesced, instead
 * of a poll per job.
 */
export class JobWaiter {
  private readonly waiters = new Map<string, Set<(job: JobRecord) => void>>();
  private checking: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
  ) {}

  /** The job once it is finished, or as it is when `timeoutMs` passes (timedOut = true). */
  async wait(id: string, timeoutMs: number): Promise<{ job: JobRecord | undefined; timedOut: boolean }> {
    let resolveFinished!: (job: JobRecord) => void;
    const finished = new Promise<JobRecord>((resolve) => (resolveFinished = resolve));
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(resolveFinished);
    let timer: NodeJS.Timeout | undefined;
    try {
      // Registered first, so a finish between this read and the wait is not missed.
      const current = await jobGet(this.db, id);
      if (!current || TERMINAL.has(current.state)) return { job: current, timedOut: false };
      const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
      const outcome = await Promise.race([finished, timeout]);
      if (outcome !== "timeout") return { job: outcome, timedOut: false };
      return { job: await jobGet(this.db, id), timedOut: true };
    } finally {
      clearTimeout(timer);
      set.delete(resolveFinished);
      if (set.size === 0) this.waiters.delete(id);
    }
  }

  /** Some jobs finished somewhere: look up the waited-for ones, once for all waiters. */
  check(): Promise<void> {
    if (this.waiters.size === 0) return Promise.resolve();
    if (this.checking) {
      this.again = true;
      return this.checking;
    }
    this.checking = (async () => {
      do {
        this.again = false;
        try {
          for (const job of await jobGetFinished(this.db, [...this.waiters.keys()])) {
            for (const resolve of this.waiters.get(job.id) ?? []) resolve(job);
          }
        } catch (error) {
          this.log.warn("checking waited-for jobs failed", { error });
        }
      } while (this.again);
    })().finally(() => (this.checking = undefined));
    return this.checking;
  }
}
