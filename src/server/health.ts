import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../clients/ts/src/gen/grpc/health/v1/health_pb.js";

/** Serving state shared by the gRPC health service and /healthz. */
export class HealthState {
  /** Started and not draining. */
  serving = false;

  constructor(private readonly database: { readonly reachable: boolean }) {}

  /** Why the broker is not ready; undefined when it is. */
  get notReady(): string | undefined {
    if (!this.serving) return "not serving";
    if (!this.database.reachable) return "not serving: database unreachable";
    return undefined;
  }
}

/**
 * The health service name of liveness (as /livez): SERVING while the process answers at all.
 * A database outage or a drain must not get a broker restarted: it recovers by itself, and a
 * restart would only wait for the same database.
 */
export const LIVENESS_SERVICE = "liveness";

/**
 * grpc.health.v1.Health: readiness by default, SERVING while the broker accepts work,
 * NOT_SERVING while it starts, drains or cannot reach its database, so load balancers and
 * Kubernetes probes route around a replica that would only answer UNAVAILABLE.
 */
export function createHealthService(state: HealthState): Partial<ServiceImpl<typeof Health>> {
  const status = (service: string) =>
    create(HealthCheckResponseSchema, {
      status:
        service === LIVENESS_SERVICE || state.notReady === undefined
          ? HealthCheckResponse_ServingStatus.SERVING
          : HealthCheckResponse_ServingStatus.NOT_SERVING,
    });
  return {
    check: (request) => status(request.service),
    async *watch(request, context) {
      let last: HealthCheckResponse_ServingStatus | undefined;
      while (!context.signal.aborted) {
        const current = status(request.service);
        if (current.status !== last) yield current;
        last = current.status;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
    },
  };
}
