import {
  type Resource,
  type ResourceDetector,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
  serviceInstanceIdDetector,
} from "@opentelemetry/resources";
import type { TracingConfig } from "../config.js";
import type { ResourceDetectorName } from "../otel-env.js";

const DETECTORS: Record<ResourceDetectorName, ResourceDetector> = {
  env: envDetector,
  host: hostDetector,
  os: osDetector,
  process: processDetector,
  serviceinstance: serviceInstanceIdDetector,
};

/**
 * The resource of every span a replica exports, RPC spans and job spans alike: what the
 * detectors named by OTEL_NODE_RESOURCE_DETECTORS find (OTEL_RESOURCE_ATTRIBUTES among them),
 * with service.name as configured. Detect it once per process and hand the same object to the
 * SDK and the relay: serviceinstance draws a new id on every detection.
 */
export function createTracingResource(config: Pick<TracingConfig, "resourceDetectors" | "serviceName">): Resource {
  const detected = detectResources({ detectors: config.resourceDetectors.map((name) => DETECTORS[name]) });
  return detected.merge(resourceFromAttributes({ "service.name": config.serviceName }));
}
