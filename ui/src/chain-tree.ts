// The shape of a chain, from its jobs alone (ListJobs by chain_id).
import type { Job } from "../../clients/ts/src/gen/baton/v1/job_pb.js";

export interface ChainNode {
  job: Job;
  depth: number;
  /** Why this node hangs under its parent: a continuation, a dependency, or only its chain_id. */
  link: "root" | "continues" | "depends" | "member";
}

/** Depth-first order of the chain, each level in id (creation) order. */
export function chainTree(jobs: readonly Job[], rootId: string): ChainNode[] {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const children = new Map<string, { job: Job; link: ChainNode["link"] }[]>();
  const roots: Job[] = [];
  for (const job of jobs) {
    let parent: string | undefined;
    let link: ChainNode["link"] = "member";
    if (byId.has(job.parentId)) [parent, link] = [job.parentId, "continues"];
    else if ((parent = job.dependsOn.find((id) => byId.has(id))) !== undefined) link = "depends";
    else if (byId.has(rootId)) parent = rootId;
    if (parent === undefined || parent === job.id) roots.push(job);
    else {
      const list = children.get(parent) ?? [];
      list.push({ job, link });
      children.set(parent, list);
    }
  }
  // Ids are decimal strings: shorter is smaller.
  const byNumericId = (a: Job, b: Job) => a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
  const out: ChainNode[] = [];
  const seen = new Set<string>();
  const visit = (job: Job, depth: number, link: ChainNode["link"]) => {
    if (seen.has(job.id)) return;
    seen.add(job.id);
    out.push({ job, depth, link });
    for (const child of (children.get(job.id) ?? []).sort((a, b) => byNumericId(a.job, b.job))) visit(child.job, depth + 1, child.link);
  };
  for (const root of roots.sort(byNumericId)) visit(root, 0, "root");
  // A cycle (which the broker does not create) would leave jobs unvisited: list them flat.
  for (const job of jobs) if (!seen.has(job.id)) visit(job, 0, "root");
  return out;
}

