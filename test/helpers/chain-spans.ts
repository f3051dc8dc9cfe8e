/** A job of a chain as its spans name it: span names are "send <queue>" and "process <queue>". */
export interface ChainJob {
  id: string;
  queue: string;
}

/**
 * The job spans of a chain in the order they happen, [send A, process A, send B, process B, …],
 * each found by `find(name, jobId)` in whatever form the trace backend gives them; each span's
 * parent should be the one before it.
 */
export function chainSpans<S>(jobs: ChainJob[], find: (name: string, jobId: string) => S): S[] {
  return jobs.flatMap((job) => [find(`send ${job.queue}`, job.id), find(`process ${job.queue}`, job.id)]);
}
