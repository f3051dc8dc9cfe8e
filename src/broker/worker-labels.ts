/**
 * Worker labels route jobs: a job's worker_labels must all appear, with the same values, among
 * a stream's labels (hello.labels). The claims decide this in SQL (LabelsMatch in jobs.sql);
 * the dispatcher decides it here for hand-offs, which skip the claim.
 */

/** Whether a stream with `streamLabels` may run a job with `jobLabels` (unset: any stream). */
export function labelsMatch(streamLabels: Readonly<Record<string, string>>, jobLabels: Readonly<Record<string, string>> | undefined): boolean {
  if (!jobLabels) return true;
  for (const [key, value] of Object.entries(jobLabels)) {
    if (!Object.hasOwn(streamLabels, key) || streamLabels[key] !== value) return false;
  }
  return true;
}

/** One string per set of labels, whatever the order of its keys: equal sets give equal strings. */
export function labelsKey(labels: Readonly<Record<string, string>> | undefined): string {
  return JSON.stringify(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
