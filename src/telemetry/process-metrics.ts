import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import { packageVersion } from "../util/package-root.js";

let registry: Registry | undefined;

/**
 * The metrics of the Node process: prom-client's standard process_* and nodejs_* families
 * (CPU, memory, open file descriptors, event-loop lag, heap spaces, GC durations) and
 * baton_build_info. They describe the process, not a broker in it, so one registry serves every
 * broker of the process (tests run several); it is created, and its event-loop and GC
 * monitors started, on first use.
 */
export function processMetrics(): Registry {
  if (registry) return registry;
  registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters (promtool rejects them); nodejs_active_handles and the others
  // without the suffix say the same per type, and sum() to the total.
  for (const name of ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"]) registry.removeSingleMetric(name);
  new Gauge({
    name: "baton_build_info",
    help: "Always 1; the labels say which Baton and which Node.js run this replica.",
    labelNames: ["version", "node_version"],
    registers: [registry],
  }).set({ version: packageVersion(), node_version: process.version }, 1);
  return registry;
}
