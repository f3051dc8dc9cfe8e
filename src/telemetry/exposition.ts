/** The Prometheus text exposition format (version 0.0.4) of metric families. */

type MetricType = "counter" | "gauge" | "histogram";

export interface Sample {
  /** Appended to the family name: _bucket, _sum, _count, or nothing. */
  suffix?: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** The text exposition format (version 0.0.4). */
export function formatExposition(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    lines.push(`# HELP ${family.name} ${family.help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`);
    lines.push(`# TYPE ${family.name} ${family.type}`);
    for (const sample of family.samples) {
      const labels = Object.entries(sample.labels)
        .map(([key, value]) => `${key}="${value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`)
        .join(",");
      lines.push(`${family.name}${sample.suffix ?? ""}${labels ? `{${labels}}` : ""} ${formatValue(sample.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}
