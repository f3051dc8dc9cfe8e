/** node-postgres parses intervals into parts; Baton's intervals use days and smaller. */
export function intervalSeconds(interval: object | null | undefined): number | null {
  if (!interval) return null;
  const p = interval as Partial<Record<"days" | "hours" | "minutes" | "seconds" | "milliseconds", number>>;
  return (((p.days ?? 0) * 24 + (p.hours ?? 0)) * 60 + (p.minutes ?? 0)) * 60 + (p.seconds ?? 0) + (p.milliseconds ?? 0) / 1000;
}
