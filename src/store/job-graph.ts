import type { Queryable } from "./database.js";
import type { NewJob } from "./job-record.js";
import { type InsertedJob, jobInsertMany, jobInsertWithDependencies } from "./jobs.js";

/**
 * Inserts a batch whose jobs wait for other jobs of the same batch (dependsOnIndex: positions
 * of earlier jobs), inside the caller's transaction: a whole DAG at once. The batch goes in
 * waves, one insert per level of the graph (a job's level is one more than its blockers'
 * highest), so that each wave knows the ids of the jobs it waits for, including a job a dedup_key
 * resolved to an existing one. A job then waits for those ids as for its depends_on (a
 * blocker that already succeeded does not block it), and without a chainId of its own joins
 * the chain of the job its first position names: a DAG with one root is one chain, which
 * WaitJob{chain} waits for as a whole. A fan-out/fan-in of depth d costs d inserts.
 *
 * The positions were validated (each names an earlier job), so the levels are well founded.
 * Returns the jobs in batch order.
 */
export async function jobInsertGraph(tx: Queryable, jobs: NewJob[], defaultMaxAttempts: number): Promise<InsertedJob[]> {
  const levels: number[] = [];
  jobs.forEach((job, i) => (levels[i] = Math.max(-1, ...(job.dependsOnIndex ?? []).map((position) => levels[position]!)) + 1));
  const results: InsertedJob[] = new Array<InsertedJob>(jobs.length);
  for (let level = 0; level <= Math.max(...levels); level++) {
    const positions = levels.flatMap((l, i) => (l === level ? [i] : []));
    const wave = positions.map((i) => resolvePositions(jobs[i]!, results));
    const inserted = wave.some((job) => job.dependsOn?.length)
      ? await jobInsertWithDependencies(tx, wave, defaultMaxAttempts)
      : await jobInsertMany(tx, wave, { defaultMaxAttempts });
    positions.forEach((position, k) => (results[position] = inserted[k]!));
  }
  return results;
}

/** The job with its dependsOnIndex turned into the ids of the jobs inserted at those positions. */
function resolvePositions(job: NewJob, inserted: InsertedJob[]): NewJob {
  const { dependsOnIndex, ...rest } = job;
  if (!dependsOnIndex?.length) return rest;
  const blockers = dependsOnIndex.map((position) => inserted[position]!.job);
  const resolved: NewJob = { ...rest, dependsOn: [...new Set([...(job.dependsOn ?? []), ...blockers.map((blocker) => blocker.id)])] };
  // A continuation (parentId) joins its parent's chain; any other job, its first blocker's.
  if (resolved.chainId === undefined && resolved.parentId === undefined) resolved.chainId = blockers[0]!.chainId;
  return resolved;
}
