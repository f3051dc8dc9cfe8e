import type { Database } from "../store/database.js";
import type { JobRecord } from "../store/job-record.js";
import { jobChainUnfinished, jobGet, jobGetFinished } from "../store/jobs.js";
import { coalesced } from "../util/coalesced.js";
import type { Logger } from "../util/log.js";

/**
 * WaitJob for many waiters at once. Waiters register by job id (or chain); every baton_finished
 * notification (and the fallback poll) triggers one query for all of them, coalesced, instead
 * of a poll per job.
 */
export class JobWaiter {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly checkAll = coalesced(async () => {
    try {
      for (const key of await this.doneKeys([...this.waiters.keys()])) {
        for (const resolve of this.waiters.get(key) ?? []) resolve();
      }
    } catch (error) {
      this.log.warn("checking waited-for jobs failed", { error });
    }
  });

  constructor(
    private readonly db: Database,
    private readonly log: Logger,
  ) {}

  /**
   * The job once it is finished (with `wholeChain`: once every job of its chain is), or as it
   * is when `timeoutMs` passes (timedOut = true).
   */
  async wait(id: string, timeoutMs: number, wholeChain = false): Promise<{ job: JobRecord | undefined; timedOut: boolean }> {
    const first = await jobGet(this.db, id);
    if (!first) return { job: undefined, timedOut: false };
    // Chain waiters register under the chain id, so one query answers all of them.
    const key = wholeChain ? `chain:${first.chainId}` : id;
    let resolveFinished!: () => void;
    const finished = new Promise<void>((resolve) => (resolveFinished = resolve));
    let set = this.waiters.get(key);
    if (!set) this.waiters.set(key, (set = new Set()));
    set.add(resolveFinished);
    let timer: NodeJS.Timeout | undefined;
    try {
      // Registered first, so a finish between this read and the wait is not missed.
      if (!(await this.isDone(key))) {
        const timeout = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), timeoutMs)));
        if ((await Promise.race([finished, timeout])) === "timeout") return { job: await jobGet(this.db, id), timedOut: true };
      }
      return { job: await jobGet(this.db, id), timedOut: false };
    } finally {
      clearTimeout(timer);
      set.delete(resolveFinished);
      if (set.size === 0) this.waiters.delete(key);
    }
  }

  private async isDone(key: string): Promise<boolean> {
    return (await this.doneKeys([key])).has(key);
  }

  /** Which of the waited-for keys (job ids, "chain:<id>") are finished. */
  private async doneKeys(keys: string[]): Promise<Set<string>> {
    const jobIds = keys.filter((k) => !k.startsWith("chain:"));
    const chainIds = keys.filter((k) => k.startsWith("chain:")).map((k) => k.slice("chain:".length));
    const done = new Set<string>();
    if (jobIds.length > 0) for (const job of await jobGetFinished(this.db, jobIds)) done.add(job.id);
    if (chainIds.length > 0) {
      const unfinished = await jobChainUnfinished(this.db, chainIds);
      for (const chainId of chainIds) if (!unfinished.has(chainId)) done.add(`chain:${chainId}`);
    }
    return done;
  }

  /** Some jobs finished somewhere: look up the waited-for ones, once for all waiters. */
  check(): Promise<void> {
    if (this.waiters.size === 0) return Promise.resolve();
    return this.checkAll();
  }
}
