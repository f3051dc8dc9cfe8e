// The jobs of a chain as a layered graph (a DAG in practice): an edge from each job to the
// continuation its ack created (parent_id) and from each blocker to its dependant (depends_on).
// Pure, so the dashboard's unit tests check it without a browser.
import type { Job } from "../../clients/ts/src/gen/baton/v1/job_pb.js";

export interface DagNode {
  job: Job;
  /** Column: the longest path of edges from a job with no edge into it. */
  layer: number;
  /** Row within the column. */
  row: number;
}

export interface DagEdge {
  from: string;
  to: string;
  kind: "continues" | "depends";
}

export interface DagLayout {
  nodes: DagNode[];
  edges: DagEdge[];
  layers: number;
  /** Most nodes in one column. */
  rows: number;
}

// Ids are decimal strings: shorter is smaller.
const byNumericId = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/**
 * Layers by longest path, so every edge points to a later column; rows in each column follow
 * the mean row of a node's predecessors (fewer crossings than id order alone), ties by id.
 * Edges to jobs outside the list (another chain, deleted) are left out; so is any edge that
 * would close a cycle, which the broker never creates.
 */
export function dagLayout(jobs: readonly Job[]): DagLayout {
  const ids = new Set(jobs.map((j) => j.id));
  const edges: DagEdge[] = [];
  for (const job of jobs) {
    if (ids.has(job.parentId) && job.parentId !== job.id) edges.push({ from: job.parentId, to: job.id, kind: "continues" });
    for (const blocker of new Set(job.dependsOn)) if (ids.has(blocker) && blocker !== job.id) edges.push({ from: blocker, to: job.id, kind: "depends" });
  }
  const preds = new Map<string, string[]>();
  for (const edge of edges) preds.set(edge.to, [...(preds.get(edge.to) ?? []), edge.from]);

  const layer = new Map<string, number>();
  const onPath = new Set<string>();
  const kept = new Set<DagEdge>(edges);
  const layerOf = (id: string): number => {
    const known = layer.get(id);
    if (known !== undefined) return known;
    onPath.add(id);
    let value = 0;
    for (const from of preds.get(id) ?? []) {
      if (onPath.has(from)) {
        for (const edge of kept) if (edge.from === from && edge.to === id) kept.delete(edge);
        continue;
      }
      value = Math.max(value, layerOf(from) + 1);
    }
    onPath.delete(id);
    layer.set(id, value);
    return value;
  };
  const sorted = [...jobs].sort((a, b) => byNumericId(a.id, b.id));
  for (const job of sorted) layerOf(job.id);

  const columns: Job[][] = [];
  for (const job of sorted) (columns[layer.get(job.id)!] ??= []).push(job);
  const row = new Map<string, number>();
  for (const column of columns) {
    const weight = (job: Job) => {
      const rows = (preds.get(job.id) ?? []).map((id) => row.get(id)).filter((r): r is number => r !== undefined);
      return rows.length === 0 ? Number.POSITIVE_INFINITY : rows.reduce((a, b) => a + b, 0) / rows.length;
    };
    const weights = new Map(column.map((job) => [job.id, weight(job)]));
    column.sort((a, b) => weights.get(a.id)! - weights.get(b.id)! || byNumericId(a.id, b.id));
    column.forEach((job, i) => row.set(job.id, i));
  }
  return {
    nodes: sorted.map((job) => ({ job, layer: layer.get(job.id)!, row: row.get(job.id)! })),
    edges: edges.filter((edge) => kept.has(edge)),
    layers: columns.length,
    rows: Math.max(0, ...columns.map((c) => c.length)),
  };
}
